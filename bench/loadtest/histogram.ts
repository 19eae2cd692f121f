/**
 * Latency histograms in microseconds (HdrHistogram). Worker threads record into their own histograms
 * and ship them encoded; the main thread decodes and adds them, so percentiles are exact over the
 * whole run instead of averaged per thread.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

/** 1 µs .. 60 s at 3 significant digits (auto-resizes beyond). */
export function newLatencyHistogram(digits: 2 | 3 = 3): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: digits });
}

export function encodeHistogram(h: Histogram): string {
  return encodeIntoCompressedBase64(h);
}

export function decodeHistogram(encoded: string): Histogram {
  return decodeFromCompressedBase64(encoded);
}

/** Adds encoded histograms into `into` (creating it when needed). */
export function mergeEncoded(into: Histogram | undefined, encoded: string): Histogram {
  const h = decodeHistogram(encoded);
  if (into === undefined) return h;
  into.add(h);
  return into;
}

export interface LatencySummary {
  count: number;
  minUs: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

export function summarize(h: Histogram | undefined): LatencySummary {
  if (h === undefined || h.totalCount === 0) {
    return { count: 0, minUs: 0, meanUs: 0, p50Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 };
  }
  return {
    count: h.totalCount,
    minUs: h.minNonZeroValue,
    meanUs: Math.round(h.mean),
    p50Us: h.getValueAtPercentile(50),
    p90Us: h.getValueAtPercentile(90),
    p99Us: h.getValueAtPercentile(99),
    p999Us: h.getValueAtPercentile(99.9),
    maxUs: h.maxValue,
  };
}

export interface PercentilePoint {
  percentile: number;
  valueUs: number;
}

/**
 * The percentile curve on the usual HdrHistogram axis: points evenly spaced in log10(1 / (1 - p)),
 * so the tail (99%, 99.9%, 99.99%) gets as much room as the body.
 */
export function percentileCurve(h: Histogram | undefined): PercentilePoint[] {
  if (h === undefined || h.totalCount === 0) return [];
  const points: PercentilePoint[] = [];
  // Stop where the tail has run out of samples: beyond 1/count every percentile is the max.
  const maxNines = Math.min(6, Math.log10(h.totalCount));
  for (let k = 0; k <= maxNines * 10; k++) {
    const percentile = 100 * (1 - 10 ** (-k / 10));
    points.push({ percentile, valueUs: h.getValueAtPercentile(percentile) });
  }
  points.push({ percentile: 100, valueUs: h.maxValue });
  return points;
}
