// Per-API request metrics kept in the broker: request and error counts and
// latency percentiles. Latencies go into log-scale buckets (about 4% wide),
// so memory is fixed whatever the traffic and percentiles are accurate to a
// bucket. The /metrics endpoint comes later; snapshot() gives the numbers.

const BUCKETS_PER_DOUBLING = 16;
// 1 µs to about 70 minutes.
const BUCKET_COUNT = BUCKETS_PER_DOUBLING * 32;

class LatencyHistogram {
  #counts = new Uint32Array(BUCKET_COUNT);
  #total = 0;

  record(micros: number): void {
    const index = micros <= 1 ? 0 : Math.min(BUCKET_COUNT - 1, Math.floor(Math.log2(micros) * BUCKETS_PER_DOUBLING));
    this.#counts[index]!++;
    this.#total++;
  }

  /** Upper bound of the bucket holding the q-th quantile, in milliseconds. */
  quantileMs(q: number): number {
    if (this.#total === 0) return 0;
    const rank = Math.ceil(q * this.#total);
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return 2 ** ((i + 1) / BUCKETS_PER_DOUBLING) / 1000;
    }
    return 2 ** (BUCKET_COUNT / BUCKETS_PER_DOUBLING) / 1000;
  }
}

interface ApiMetrics {
  requests: number;
  errors: number;
  latency: LatencyHistogram;
}

export interface ApiMetricsSnapshot {
  api: string;
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

export class RequestMetrics {
  #apis = new Map<string, ApiMetrics>();

  record(api: string, micros: number, failed: boolean): void {
    let m = this.#apis.get(api);
    if (!m) {
      m = { requests: 0, errors: 0, latency: new LatencyHistogram() };
      this.#apis.set(api, m);
    }
    m.requests++;
    if (failed) m.errors++;
    m.latency.record(micros);
  }

  snapshot(): ApiMetricsSnapshot[] {
    return [...this.#apis].map(([api, m]) => ({
      api,
      requests: m.requests,
      errors: m.errors,
      p50Ms: m.latency.quantileMs(0.5),
      p99Ms: m.latency.quantileMs(0.99),
      p999Ms: m.latency.quantileMs(0.999),
    }));
  }
}
