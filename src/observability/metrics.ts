/**
 * Prometheus metrics (prom-client), owned by the main thread: it sees every downstream request.
 * Labelled children are cached per (destination, status) so the per-request cost is two Map
 * lookups and two increments, not a label-object allocation and hash each time.
 */
import client from 'prom-client';

export interface GaugeSources {
  sessions(): number;
  workersUp(): number;
  children(): number;
}

export class Metrics {
  readonly registry = new client.Registry();
  private readonly requests: client.Counter<'dest' | 'status'>;
  private readonly duration: client.Histogram<'dest'>;
  private readonly ended: client.Counter<'dest' | 'reason'>;
  private readonly rejected: client.Counter<'reason'>;
  private readonly reqChildren = new Map<string, client.Counter.Internal>();
  private readonly durChildren = new Map<string, client.Histogram.Internal<'dest'>>();

  constructor(sources: GaugeSources) {
    const registers = [this.registry];
    this.requests = new client.Counter({ name: 'mithril_requests_total', help: 'Downstream HTTP exchanges by destination and status', labelNames: ['dest', 'status'], registers });
    this.duration = new client.Histogram({
      name: 'mithril_request_duration_seconds', help: 'Downstream exchange duration', labelNames: ['dest'], registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.ended = new client.Counter({ name: 'mithril_sessions_ended_total', help: 'Downstream sessions ended, by reason', labelNames: ['dest', 'reason'], registers });
    this.rejected = new client.Counter({ name: 'mithril_rejected_total', help: 'Requests refused before reaching a worker, by reason', labelNames: ['reason'], registers });
    new client.Gauge({ name: 'mithril_sessions', help: 'Live downstream sessions', registers, collect() { this.set(sources.sessions()); } });
    new client.Gauge({ name: 'mithril_workers_up', help: 'Worker threads up', registers, collect() { this.set(sources.workersUp()); } });
    new client.Gauge({ name: 'mithril_stdio_children', help: 'Live stdio child processes', registers, collect() { this.set(sources.children()); } });
    client.collectDefaultMetrics({ register: this.registry, prefix: 'mithril_' });
  }

  request(dest: string, status: number, ms: number): void {
    const key = `${dest}\u0000${status}`;
    let c = this.reqChildren.get(key);
    if (!c) this.reqChildren.set(key, (c = this.requests.labels(dest, String(status))));
    c.inc();
    let h = this.durChildren.get(dest);
    if (!h) this.durChildren.set(dest, (h = this.duration.labels(dest)));
    h.observe(ms / 1000);
  }

  sessionEnded(dest: string, reason: string): void {
    this.ended.labels(dest, reason).inc();
  }

  reject(reason: string): void {
    this.rejected.labels(reason).inc();
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
