/**
 * The router's metrics, kept as plain numbers so that counting costs an array increment on the hot
 * path: messages in and out by type (arrays indexed by message code), calls by procedure and
 * outcome with a latency histogram of fixed buckets (one slot per procedure, a bounded number of
 * procedure labels), dropped slow peers. Sessions by realm are read from the realms when scraped.
 * `render` writes Prometheus's text exposition format.
 */
import { MessageType } from "../wamp/messages.js"

/** How a call ended, as the caller saw it. */
export const CallOutcome = {
  ok: 0,
  error: 1,
  canceled: 2,
  timeout: 3,
  /** Refused before reaching a callee: bad URI, not authorized, no such procedure, a limit. */
  rejected: 4
} as const
export type CallOutcome = (typeof CallOutcome)[keyof typeof CallOutcome]
/** The `outcome` label of each `CallOutcome`. */
export const OUTCOME_NAMES = ["ok", "error", "canceled", "timeout", "rejected"] as const

/** Latency bucket upper bounds in seconds (Prometheus `le`). */
export const LATENCY_BUCKETS: ReadonlyArray<number> = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
]

/** Distinct procedure labels at most; calls of further procedures count under `OTHER_PROCEDURE`. */
export const MAX_PROCEDURE_LABELS = 256
export const OTHER_PROCEDURE = "_other"

/** One procedure's counters: calls by outcome and the latency histogram of completed calls. */
export class ProcedureStats {
  readonly outcomes = [0, 0, 0, 0, 0]
  /** Non-cumulative bucket counts; the last slot is +Inf. */
  readonly buckets: Array<number> = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0)
  sum = 0
  count = 0
  constructor(readonly procedure: string) {}

  /** A call that reached a callee ended after `seconds`. */
  completed(outcome: CallOutcome, seconds: number): void {
    this.outcomes[outcome]!++
    let i = 0
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++
    this.buckets[i]!++
    this.sum += seconds
    this.count++
  }
}

const MESSAGE_NAMES: Array<string | undefined> = []
for (const [name, code] of Object.entries(MessageType)) MESSAGE_NAMES[code] = name

/** Prometheus label value escaping. */
const label = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

export class RouterMetrics {
  /** Messages received, by message code (a valid shape; indexes 0..255). */
  readonly received: Array<number> = new Array<number>(256).fill(0)
  /** Messages sent, by message code. */
  readonly sent: Array<number> = new Array<number>(256).fill(0)
  /** Peers dropped because too many bytes waited to be sent to them. */
  droppedSlowPeers = 0
  readonly #procedures = new Map<string, ProcedureStats>()

  /** The stats slot of a procedure (looked up once per call). */
  procedure(uri: string): ProcedureStats {
    let stats = this.#procedures.get(uri)
    if (stats === undefined) {
      const key = this.#procedures.size < MAX_PROCEDURE_LABELS ? uri : OTHER_PROCEDURE
      stats = this.#procedures.get(key)
      if (stats === undefined) {
        stats = new ProcedureStats(key)
        this.#procedures.set(key, stats)
      }
    }
    return stats
  }

  /** A call refused before it reached a callee. */
  rejected(uri: string): void {
    this.procedure(uri).outcomes[CallOutcome.rejected]!++
  }

  /** Prometheus text format; `sessions` gives the established sessions per realm. */
  render(sessions: Iterable<readonly [realm: string, count: number]>): string {
    const out: Array<string> = []
    out.push("# HELP wampgres_router_sessions Established WAMP sessions by realm.")
    out.push("# TYPE wampgres_router_sessions gauge")
    for (const [realm, count] of sessions) out.push(`wampgres_router_sessions{realm="${label(realm)}"} ${count}`)
    const byType = (name: string, help: string, counts: ReadonlyArray<number>): void => {
      out.push(`# HELP ${name} ${help}`)
      out.push(`# TYPE ${name} counter`)
      for (let code = 0; code < counts.length; code++) {
        const n = counts[code]!
        if (n > 0) out.push(`${name}{type="${MESSAGE_NAMES[code] ?? String(code)}"} ${n}`)
      }
    }
    byType("wampgres_router_messages_received_total", "WAMP messages received, by type.", this.received)
    byType("wampgres_router_messages_sent_total", "WAMP messages sent, by type.", this.sent)
    out.push("# HELP wampgres_router_calls_total Calls by procedure and outcome.")
    out.push("# TYPE wampgres_router_calls_total counter")
    for (const stats of this.#procedures.values()) {
      for (let o = 0; o < OUTCOME_NAMES.length; o++) {
        const n = stats.outcomes[o]!
        if (n > 0) out.push(`wampgres_router_calls_total{procedure="${label(stats.procedure)}",outcome="${OUTCOME_NAMES[o]}"} ${n}`)
      }
    }
    out.push("# HELP wampgres_router_call_duration_seconds Time from CALL received to the caller's answer sent.")
    out.push("# TYPE wampgres_router_call_duration_seconds histogram")
    for (const stats of this.#procedures.values()) {
      if (stats.count === 0) continue
      const p = `procedure="${label(stats.procedure)}"`
      let cumulative = 0
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
        cumulative += stats.buckets[i]!
        out.push(`wampgres_router_call_duration_seconds_bucket{${p},le="${LATENCY_BUCKETS[i]}"} ${cumulative}`)
      }
      out.push(`wampgres_router_call_duration_seconds_bucket{${p},le="+Inf"} ${stats.count}`)
      out.push(`wampgres_router_call_duration_seconds_sum{${p}} ${stats.sum}`)
      out.push(`wampgres_router_call_duration_seconds_count{${p}} ${stats.count}`)
    }
    out.push("# HELP wampgres_router_dropped_slow_peers_total Peers dropped because their unsent bytes passed the limit.")
    out.push("# TYPE wampgres_router_dropped_slow_peers_total counter")
    out.push(`wampgres_router_dropped_slow_peers_total ${this.droppedSlowPeers}`)
    return out.join("\n") + "\n"
  }
}
