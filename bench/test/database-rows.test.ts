/**
 * The rows that need PostgreSQL, end to end on an embedded one: the hand-written autobahn-js +
 * node-postgres component, the pgbench transfer baseline, and a service row traced to the bench's
 * OTLP receiver. Short windows: this checks the wiring, not the figures.
 */
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { benchDatabase, ownDatabase } from "../lib/database.js"
import { otlpSink } from "../lib/otlpSink.js"
import { findPgbench } from "../lib/pgbench.js"
import type { RowResult } from "../lib/result.js"
import { routerConfig } from "../lib/routerConfig.js"
import { type RunContext, runRow } from "../lib/runner.js"
import { defaultVariants, rowsFor } from "../lib/scenarios.js"
import { scenario, shortRun } from "./support.js"

const options = shortRun(3)


/** An embedded PostgreSQL, our router's configuration and the OTLP receiver, for the test's scope. */
const context = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "bench-db-rows-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
  )
  const routerConfigFile = join(dir, "router.json")
  yield* Effect.promise(() => writeFile(routerConfigFile, JSON.stringify(routerConfig("realm1"))))
  const database = yield* benchDatabase(undefined)
  const otlp = yield* otlpSink
  const ctx: RunContext = { options, database, runId: "test", routerConfigFile, onProgress: () => undefined, otlp }
  return ctx
})

const expectClean = (result: RowResult) => {
  expect(result.status, result.reason).toBe("ok")
  expect(result.load!.errors, JSON.stringify(result.load!.errorSamples)).toBe(0)
  expect(result.load!.ok).toBeGreaterThan(0)
  for (const check of result.load!.finalChecks) expect(check.ok, `${check.name}: ${check.detail}`).toBe(true)
}

describe("rows on PostgreSQL", () => {
  it.live("now.v3@autobahn-pg, pgbench-transfer, a revision's own database, a traced now.v1: checked results, figures, the receiver fed", () =>
    Effect.gen(function*() {
      const ctx = yield* context

      const [autobahnPg] = rowsFor([scenario("now.v3@autobahn-pg")], ["json"])
      const handWritten = yield* runRow(autobahnPg!, ctx)
      expectClean(handWritten)
      expect(handWritten.settings).toMatchObject({ component: "autobahn-pg", router: "wampgres", tracing: false })
      expect(handWritten.roles?.component?.cpuPer1k).toBeGreaterThan(0)
      expect(handWritten.roles?.database?.cpuPer1k).toBeGreaterThan(0)

      if (findPgbench() !== undefined) {
        const [pgbench] = rowsFor([scenario("pgbench-transfer")], ["json"])
        const transfers = yield* runRow(pgbench!, ctx)
        expectClean(transfers)
        expect(transfers.load!.finalChecks.map((c) => c.name)).toEqual([
          "sum of balances unchanged",
          "one transfer per transaction",
          "outbox events as the service writes them"
        ])
        expect(transfers.settings.command).toContain("-M prepared")
        expect(transfers.settings.inflight).toBe(3)
      }

      // Another revision's service gets a database of its own, usable by the service's role, dropped after.
      const query = (url: string, text: string) =>
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<{ v: string }>(text)).pipe(
          Effect.provide(Layer.fresh(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })))
        )
      const ownUrl = yield* Effect.scoped(Effect.gen(function*() {
        const url = yield* ownDatabase(ctx.database!, "wampgres_rev_test")
        expect(yield* query(url, "SELECT current_database() || ' ' || current_user AS v")).toEqual([{ v: "wampgres_rev_test wampgres" }])
        yield* query(url, "CREATE TABLE owned_by_the_service (id int)")
        return url
      }))
      expect(ownUrl).toContain("/wampgres_rev_test")
      expect(yield* query(ctx.database!.url, "SELECT count(*)::text AS v FROM pg_database WHERE datname = 'wampgres_rev_test'")).toEqual([{ v: "0" }])

      const [, traced] = rowsFor([scenario("now.v1")], ["json"], { ...defaultVariants, tracing: [false, true] })
      expect(traced!.tracing).toBe(true)
      const tracedResult = yield* runRow(traced!, ctx)
      expectClean(tracedResult)
      expect(tracedResult.settings.tracing).toBe(true)
      expect(tracedResult.tracingExport?.bytes).toBeGreaterThan(0)
    }).pipe(Effect.scoped), 240_000)
})
