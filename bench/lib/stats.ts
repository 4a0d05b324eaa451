/**
 * Latency recording for the load drivers. Plain TypeScript on purpose: it runs once per call in
 * the load client, whose own CPU must stay small next to the processes being measured.
 */
import type { LatencySummary } from "./protocol.js"

/** Keeps every sample (milliseconds) in a growable Float64Array; a 10 s run at 30k/s is 2.4 MB. */
export class LatencyRecorder {
  private samples = new Float64Array(1 << 16)
  private size = 0

  record(ms: number): void {
    if (this.size === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2)
      bigger.set(this.samples)
      this.samples = bigger
    }
    this.samples[this.size++] = ms
  }

  get count(): number {
    return this.size
  }

  summary(): LatencySummary {
    return summarize(this.samples.subarray(0, this.size))
  }
}

/** Nearest-rank percentile of sorted samples: the smallest value with at least p% at or below it. */
export const percentile = (sorted: ArrayLike<number>, p: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number
}

export const summarize = (samples: Float64Array): LatencySummary => {
  const sorted = Float64Array.from(samples).sort()
  let sum = 0
  for (let i = 0; i < sorted.length; i++) sum += sorted[i] as number
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1] as number,
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length
  }
}

/** Counts failures by message, keeping the first few distinct messages for the report. */
export class ErrorTally {
  private readonly counts = new Map<string, number>()
  private total = 0

  constructor(private readonly keep = 5) {}

  add(message: string): void {
    this.total++
    const seen = this.counts.get(message)
    if (seen !== undefined) this.counts.set(message, seen + 1)
    else if (this.counts.size < this.keep) this.counts.set(message, 1)
  }

  get count(): number {
    return this.total
  }

  samples(): Array<{ message: string; count: number }> {
    return [...this.counts].map(([message, count]) => ({ message, count }))
  }
}

/** Turns anything a WAMP client may reject with (autobahn.Error, string, Error) into one line. */
export const describeFailure = (e: unknown): string => {
  if (typeof e === "string") return e
  if (e !== null && typeof e === "object") {
    const o = e as { error?: unknown; args?: unknown; kwargs?: unknown; message?: unknown }
    if (typeof o.error === "string") {
      const detail = Array.isArray(o.args) && o.args.length > 0 ? ` ${JSON.stringify(o.args).slice(0, 160)}` : ""
      return `${o.error}${detail}`
    }
    if (typeof o.message === "string") return o.message
  }
  return String(e)
}
