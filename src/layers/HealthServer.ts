/**
 * The component's own small HTTP listener (`METRICS_PORT`), so that it can be probed and scraped
 * whichever router it runs behind (the embedded one or Crossbar.io):
 *
 * - `GET /health`: 200 while the process runs;
 * - `GET /ready`: 200 when the session has joined the realm, every procedure is registered and the
 *   database answers its health query; otherwise 503 with the reasons, one per line;
 * - `GET /metrics`: the process's Effect metrics in Prometheus's text format; the idle pool
 *   connections are counted by PostgreSQL's `pg_stat_activity` at each scrape (bounded by the health
 *   query's timeout; the last count stays when it does not answer).
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import * as SqlClient from "effect/sql/SqlClient"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { poolBackends, poolIdle, recordWhileScoped, refreshPoolGauges } from "./Metrics.js"
import { WampSession } from "./WampSession.js"

export interface Options {
  readonly port: number
  readonly host: string
  /** The database's health query (`DB_HEALTH_QUERY`). */
  readonly healthQuery: string
  /** How long the health query may take before the database counts as not answering. Default 2 s. */
  readonly queryTimeout?: Duration.Input
}

export class HealthServer extends Context.Service<HealthServer, {
  /** The port it listens on (the real one when configured with 0). */
  readonly port: number
}>()("wampgres/layers/HealthServer") {}

const text = (res: ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8"): void => {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" })
  res.end(body)
}

/** The reasons the service is not ready; empty when it is. */
const notReady = (healthQuery: string, timeout: Duration.Input) =>
  Effect.gen(function*() {
    const session = yield* WampSession
    const sql = yield* SqlClient.SqlClient
    const reasons = [...(yield* session.notReady)]
    const database = yield* sql.unsafe(healthQuery).pipe(
      Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail("timeout" as const) }),
      Effect.as(undefined),
      Effect.catch((error) =>
        Effect.succeed(
          error === "timeout"
            ? `database: no answer to the health query within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
            : `database: ${error.message}`
        )
      ),
      Effect.withTracerEnabled(false)
    )
    if (database !== undefined) reasons.push(database)
    return reasons
  })

/**
 * Sets the idle-connections gauge from PostgreSQL's view of the pool's backends, forgetting backends
 * that are gone. The scrape's own statement is active, so it never counts itself.
 */
const refreshPoolIdle = (timeout: Duration.Input) =>
  Effect.gen(function*() {
    if (poolBackends.size === 0) return
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly pid: number; readonly state: string | null }>`
      SELECT pid, state FROM pg_stat_activity WHERE pid = ANY(${[...poolBackends]}::int[])`
    const alive = new Set(rows.map((row) => row.pid))
    for (const pid of poolBackends) if (!alive.has(pid)) poolBackends.delete(pid)
    const context = yield* Effect.context<never>()
    poolIdle.updateUnsafe(rows.filter((row) => row.state === "idle").length, context)
  }).pipe(Effect.timeout(timeout), Effect.ignore, Effect.withTracerEnabled(false))

/** The listener for the layer's lifetime. */
export const layer = (options: Options): Layer.Layer<HealthServer, never, WampSession | SqlClient.SqlClient> =>
  Layer.effect(
    HealthServer,
    Effect.gen(function*() {
      yield* recordWhileScoped
      const context = yield* Effect.context<WampSession | SqlClient.SqlClient>()
      const runPromise = Effect.runPromiseWith(context)
      const queryTimeout = options.queryTimeout ?? Duration.seconds(2)
      const readiness = notReady(options.healthQuery, queryTimeout)
      const metrics = Effect.andThen(refreshPoolIdle(queryTimeout), Effect.sync(() => {
        refreshPoolGauges(context as Context.Context<never>)
        return PrometheusMetrics.formatUnsafe(context as Context.Context<never>)
      }))
      const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
        const path = (req.url ?? "/").split("?")[0]
        if (req.method !== "GET" && req.method !== "HEAD") return text(res, 405, "method not allowed\n")
        switch (path) {
          case "/health":
            return text(res, 200, "ok\n")
          case "/metrics":
            runPromise(metrics).then(
              (body) => text(res, 200, body, "text/plain; version=0.0.4; charset=utf-8"),
              () => text(res, 500, "metrics failed\n")
            )
            return
          case "/ready":
            runPromise(readiness).then(
              (reasons) => text(res, reasons.length === 0 ? 200 : 503, reasons.length === 0 ? "ready\n" : reasons.join("\n") + "\n"),
              () => text(res, 503, "readiness check failed\n")
            )
            return
          default:
            return text(res, 404, "not found: /health, /ready and /metrics are served here\n")
        }
      }
      const server = createServer(onRequest)
      const port = yield* Effect.acquireRelease(
        Effect.callback<number>((resume) => {
          server.once("error", (error) => resume(Effect.die(error)))
          server.listen(options.port, options.host, () => resume(Effect.succeed((server.address() as AddressInfo).port)))
        }),
        () =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
            server.closeAllConnections()
          })
      )
      yield* Effect.logInfo(`Health and metrics at http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}/ (/health, /ready, /metrics)`)
      return HealthServer.of({ port })
    })
  )
