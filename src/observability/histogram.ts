/**
 * A fixed-bucket latency histogram counted into a preallocated array: observe() is a short scan
 * and two additions, with no allocation and no label lookup (prom-client's Histogram hashes its
 * labels on every observe). The numbers are turned into Prometheus samples only at scrape time,
 * and histograms from several threads merge by adding their arrays, which is what makes the
 * worker-side latency exact across workers.
 */

/** Upper bounds in seconds; one more slot counts everything above the last (+Inf). */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** What crosses threads: plain numbers (structured clone). counts[i] is NOT cumulative. */
export interface HistogramData {
  counts: ArrayLike<number>;
  sum: number;
  count: number;
}

export class FixedHistogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  private readonly bounds: readonly number[];

  constructor(bounds: readonly number[] = LATENCY_BUCKETS) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }

  data(): HistogramData {
    return { counts: Array.from(this.counts), sum: this.sum, count: this.count };
  }

  add(d: HistogramData): void {
    const n = Math.min(d.counts.length, this.counts.length);
    for (let i = 0; i < n; i++) this.counts[i]! += d.counts[i]!;
    this.sum += d.sum;
    this.count += d.count;
  }
}

/** One Prometheus sample, in the shape prom-client's registry formats. */
export interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/** The _bucket (cumulative, with le), _sum and _count samples of one histogram series. */
export function histogramSamples(name: string, labels: Record<string, string>, h: HistogramData, bounds: readonly number[] = LATENCY_BUCKETS): Sample[] {
  const out: Sample[] = [];
  let cum = 0;
  for (let i = 0; i < bounds.length; i++) {
    cum += h.counts[i] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: bounds[i]! }, value: cum });
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}
