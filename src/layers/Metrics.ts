/**
 * The component's metrics, as Effect `Metric`s (rendered in Prometheus's text format by
 * `effect/observability/PrometheusMetrics` on the component's listener, see `HealthServer.ts`):
 * invocations by procedure and outcome with a handler latency histogram, pool checkouts in use
 * and waiting, idle connections, connections opened, transaction retries, NOTIFY bridge reconnects and gaps, and
 * events published. The per-call ones are made once per procedure, updated synchronously, and only
 * while a listener serves them (`recording`).
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"

/**
 * How many metrics listeners run (`HealthServer`). The per-call metrics (invocations, handler
 * latency, pool checkouts) are recorded only while one does: unread, they would cost every call.
 */
let listeners = 0

/** Whether the per-call metrics are being recorded (a listener serves them). */
export const recording = (): boolean => listeners > 0

/** Records the per-call metrics for the life of the current scope (a listener's). */
export const recordWhileScoped: Effect.Effect<void, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => void listeners++),
  () => Effect.sync(() => void listeners--)
)

/** Handler latency buckets, in seconds. */
export const LATENCY_BUCKETS: ReadonlyArray<number> = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
]

/** How an invocation ended. */
export type Outcome = "ok" | "error" | "canceled"

/** One procedure's invocation metrics. */
export interface InvocationMetrics {
  /** Records one invocation that took `seconds`, in the registry of `context`. */
  readonly record: (outcome: Outcome, seconds: number, context: Context.Context<never>) => void
}

const invocationsTotal = (procedure: string, outcome: Outcome) =>
  Metric.counter("wampgres_invocations_total", {
    description: "Invocations by procedure and outcome.",
    attributes: { procedure, outcome },
    incremental: true
  })

/** The metrics of one procedure, made once when it is registered. */
export const invocations = (procedure: string): InvocationMetrics => {
  const ok = invocationsTotal(procedure, "ok")
  const error = invocationsTotal(procedure, "error")
  const canceled = invocationsTotal(procedure, "canceled")
  const duration = Metric.histogram("wampgres_handler_duration_seconds", {
    description: "Handler time per invocation, from INVOCATION to the answer.",
    attributes: { procedure },
    boundaries: LATENCY_BUCKETS
  })
  return {
    record: (outcome, seconds, context) => {
      ;(outcome === "ok" ? ok : outcome === "error" ? error : canceled).updateUnsafe(1, context)
      duration.updateUnsafe(seconds, context)
    }
  }
}

const poolDescription =
  "Pool connections by state: in_use and waiting count checkouts (holding a connection, waiting for one), idle the open connections PostgreSQL sees idle."

/** Pool checkouts holding a connection (a statement or a transaction), and those waiting for one. */
export const poolInUse = Metric.gauge("wampgres_db_pool_connections", {
  description: poolDescription,
  attributes: { state: "in_use" }
})
export const poolWaiting = Metric.gauge("wampgres_db_pool_connections", {
  description: poolDescription,
  attributes: { state: "waiting" }
})
export const poolIdle = Metric.gauge("wampgres_db_pool_connections", {
  description: poolDescription,
  attributes: { state: "idle" }
})
/**
 * The backend process ids of the physical connections the pool opened (the idle count is read from
 * PostgreSQL's own view of them when the metrics are scraped, see HealthServer.ts).
 */
export const poolBackends = new Set<number>()

/**
 * The pool's checkouts as plain numbers (a statement's checkout is on the hot path); the gauges
 * above are set from them when the metrics are read (`refreshPoolGauges`).
 */
export const poolStats = { inUse: 0, waiting: 0 }

/** Sets the pool gauges from `poolStats` in the registry of `context`. */
export const refreshPoolGauges = (context: Context.Context<never>): void => {
  poolInUse.updateUnsafe(poolStats.inUse, context)
  poolWaiting.updateUnsafe(poolStats.waiting, context)
}

export const poolOpened = Metric.counter("wampgres_db_pool_connections_opened_total", {
  description: "Physical connections the pool opened.",
  incremental: true
})

export const transactionRetries = Metric.counter("wampgres_transaction_retries_total", {
  description: "Transactions run again after a serialization failure or deadlock.",
  incremental: true
})

/** A transaction aborted with `sqlstate` is run again: counted, and an event on the current span. */
export const retried = (sqlstate: string | undefined): Effect.Effect<void> =>
  Effect.andThen(
    Metric.update(transactionRetries, 1),
    Effect.flatMap(Effect.currentSpan, (span) =>
      Effect.sync(() => {
        span.event("transaction.retry", BigInt(Date.now()) * 1_000_000n, { "db.response.status_code": sqlstate ?? "unknown" })
        span.attribute("wampgres.transaction.retries", ((span.attributes.get("wampgres.transaction.retries") as number | undefined) ?? 0) + 1)
      })).pipe(Effect.ignore)
  )

export const bridgeReconnects = Metric.counter("wampgres_notify_bridge_reconnects_total", {
  description: "LISTEN connections of the NOTIFY bridge lost and listening again.",
  incremental: true
})
export const bridgeGaps = Metric.counter("wampgres_notify_bridge_gap_seconds_total", {
  description: "Seconds the NOTIFY bridge was not listening after a loss (notifications then were not delivered).",
  incremental: true
})

export const eventsPublished = Metric.counter("wampgres_events_published_total", {
  description: "WAMP events published by the component.",
  incremental: true
})
