/**
 * Baseline without WAMP: `SELECT now()` through `@effect/sql-pg` directly, C statements in flight,
 * the same pool settings as the service, each alone or in a transaction of its own. The database
 * ceiling for this client; a child process of `bench/run.ts` so its CPU is measured like the others.
 */
// Deep imports, as in every measured process (the barrels load every module).
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { performance } from "node:perf_hooks"
import { finish, onParentMessage, sendToParent } from "../lib/ipc.js"
import type { ChildMessage, Phase, SqlDirectConfig } from "../lib/protocol.js"
import { describeFailure, ErrorTally, LatencyRecorder } from "../lib/stats.js"

const FIVE_MINUTES = 5 * 60_000

const run = (config: SqlDirectConfig) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    let phase: Phase = "setup"
    const enter = (next: Phase) => {
      phase = next
      void sendToParent({ type: "phase", phase: next })
    }
    const latency = new LatencyRecorder()
    const errors = new ErrorTally()
    let ok = 0
    let issued = 0

    // Every row is checked: a Date from the database, close to this clock.
    const selectNow = Effect.fnUntraced(function*() {
      const rows = yield* sql<{ now: unknown }>`SELECT now() AS now`
      const value = rows[0]?.now
      if (!(value instanceof Date) || Math.abs(value.getTime() - Date.now()) > FIVE_MINUTES) {
        return yield* Effect.fail(new Error(`SELECT now(): unexpected ${JSON.stringify(value)}`))
      }
    })

    const once = config.transaction ? () => sql.withTransaction(selectNow()) : selectNow

    const worker = Effect.gen(function*() {
      while (phase === "warmup" || phase === "measure") {
        const started = performance.now()
        issued++
        const exit = yield* Effect.exit(once())
        if (phase !== "measure") continue
        if (exit._tag === "Success") {
          latency.record(performance.now() - started)
          ok++
        } else {
          errors.add(describeFailure(Cause.squash(exit.cause)))
        }
      }
    })

    yield* selectNow()
    enter("warmup")
    const startedAt = performance.now()
    let windowStart = startedAt
    const progress = setInterval(() => {
      const measuring = phase === "measure"
      void sendToParent({
        type: "progress",
        phase,
        calls: measuring ? ok + errors.count : issued,
        errors: errors.count,
        elapsedMs: performance.now() - (measuring ? windowStart : startedAt)
      })
    }, 1_000)
    const workers = yield* Effect.forEach(Array.from({ length: config.inflight }), () => Effect.forkChild(worker))
    yield* Effect.sleep(config.warmupMs)
    enter("measure")
    windowStart = performance.now()
    yield* Effect.sleep(config.durationMs)
    enter("drain")
    const windowMs = performance.now() - windowStart
    clearInterval(progress)
    yield* Fiber.joinAll(workers)
    const message: ChildMessage = {
      type: "result",
      result: {
        calls: ok + errors.count,
        ok,
        errors: errors.count,
        errorSamples: errors.samples(),
        windowMs,
        callsPerSecond: (ok * 1000) / windowMs,
        latency: latency.summary(),
        finalChecks: []
      }
    }
    return message
  }).pipe(
    Effect.provide(Layer.fresh(PgClient.layer({
      url: Redacted.make(config.databaseUrl),
      maxConnections: config.maxConnections,
      minConnections: config.minConnections,
      multiplex: config.multiplex
    })))
  )

onParentMessage((message) => {
  if (message.type === "run-sql") {
    NodeRuntime.runMain(
      run(message.config).pipe(
        Effect.matchEffect({
          onSuccess: (result) => Effect.sync(() => finish(result, 0)),
          onFailure: (e) => Effect.sync(() => finish({ type: "failed", message: describeFailure(e) }, 1))
        })
      ),
      { disableErrorReporting: true }
    )
  } else if (message.type === "stop") {
    process.exit(0)
  }
})
void sendToParent({ type: "ready", node: process.version })
