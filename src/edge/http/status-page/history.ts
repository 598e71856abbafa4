// The last hour of the gateway, for the status page's chart: the journal's backlog and the capture and forward
// rates, one point per interval (10 s by default, 360 points), in memory only.

/** Cumulative counters at one instant. */
export interface HistorySample {
  t: number;
  /** Records in the journal. */
  records: number;
  /** Messages captured since start. */
  captured: number;
  /** Samples (metrics) those messages carried. */
  samples: number;
  /** Records acknowledged by Kafka since start. */
  forwarded: number;
}

export interface HistoryPoint {
  /** End of the interval, ms since the epoch. */
  t: number;
  records: number;
  /** Records per second over the interval ending at `t`. */
  capturedPerSec: number;
  forwardedPerSec: number;
}

export interface Rates {
  capturedPerSec: number;
  forwardedPerSec: number;
  samplesPerSec: number;
}

export class StatusHistory {
  /** One more sample than points: a point is the difference of two samples. */
  private readonly samples: HistorySample[] = [];

  constructor(
    readonly intervalMs = 10_000,
    readonly capacity = 360,
  ) {}

  add(sample: HistorySample): void {
    this.samples.push(sample);
    if (this.samples.length > this.capacity + 1) this.samples.splice(0, this.samples.length - this.capacity - 1);
  }

  points(): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    for (let i = 1; i < this.samples.length; i++) {
      const { capturedPerSec, forwardedPerSec } = rates(this.samples[i - 1]!, this.samples[i]!);
      out.push({ t: this.samples[i]!.t, records: this.samples[i]!.records, capturedPerSec, forwardedPerSec });
    }
    return out;
  }

  /** Rates from the oldest sample within `windowMs` of `now` (or the newest one before it) up to `now`. */
  ratesAt(now: HistorySample, windowMs = 60_000): Rates {
    const from = this.samples.find((s) => now.t - s.t <= windowMs && now.t > s.t) ?? this.samples.findLast((s) => now.t > s.t);
    return from ? rates(from, now) : NO_RATES;
  }
}

const NO_RATES: Rates = { capturedPerSec: 0, forwardedPerSec: 0, samplesPerSec: 0 };

function rates(a: HistorySample, b: HistorySample): Rates {
  const seconds = (b.t - a.t) / 1000;
  if (seconds <= 0) return NO_RATES;
  const per = (d: number) => Math.round((Math.max(0, d) / seconds) * 100) / 100;
  return { capturedPerSec: per(b.captured - a.captured), forwardedPerSec: per(b.forwarded - a.forwarded), samplesPerSec: per(b.samples - a.samples) };
}
