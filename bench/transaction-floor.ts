/**
 * What one transaction costs the driver alone (`@effect/sql-pg`, no WAMP): 50 fibers, a pool of 10
 * on a throwaway embedded PostgreSQL, each shape for 3 s after 1 s of warm-up; prints operations/s
 * and this process's CPU per operation. The shapes bound what a transactional procedure can cost:
 *
 *   npx tsx bench/transaction-floor.ts            # every shape, one after the other
 *   npx tsx bench/transaction-floor.ts pipelined  # one shape
 *
 * - `statement`: `SELECT now()` on the pooled client (pipelined with the other fibers' statements);
 * - `withTransaction`: the same inside `sql.withTransaction`;
 * - `lanes`: the same inside `sql.withTransaction` of wampgres' own client (`PgPoolClient`, whose
 *   transactions run on lanes: BEGIN with the first statement, COMMIT with the next BEGIN);
 * - `three-writes`: BEGIN, the statement and COMMIT on a connection of its own, one round trip each;
 * - `begin-with-statement`: BEGIN and the statement queued together (one write), then COMMIT;
 * - `one-write`: all three queued together (the floor of any transaction; a handler cannot do this,
 *   its COMMIT waits for its statements' results).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as PgConnection from "@effect/sql-pg/PgConnection"
import * as PgPool from "@effect/sql-pg/PgPool"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgPoolClient from "../src/layers/PgPoolClient.js"
import { benchDatabase } from "./lib/database.js"

const FIBERS = 50
const POOL = 10
const SELECT = "SELECT now()::text AS now"

/** Runs `operation` in FIBERS loops for `seconds`; returns operations/s and CPU µs per operation. */
const measure = <E, R>(operation: Effect.Effect<unknown, E, R>, seconds: number) =>
  Effect.gen(function*() {
    let running = true
    let count = 0
    const loop = Effect.whileLoop({ while: () => running, body: () => operation, step: () => void count++ })
    const timer = setTimeout(() => (running = false), seconds * 1000)
    const cpu = process.cpuUsage()
    const started = performance.now()
    yield* Effect.forEach(Array.from({ length: FIBERS }), () => loop, { concurrency: "unbounded", discard: true })
    clearTimeout(timer)
    const used = process.cpuUsage(cpu)
    return { perSecond: count / ((performance.now() - started) / 1000), cpuMicros: (used.user + used.system) / count }
  })

const report = <E, R>(name: string, operation: Effect.Effect<unknown, E, R>) =>
  Effect.gen(function*() {
    yield* measure(operation, 1)
    const { perSecond, cpuMicros } = yield* measure(operation, 3)
    console.log(`${name.padEnd(22)} ${perSecond.toFixed(0).padStart(7)}/s  ${cpuMicros.toFixed(1).padStart(6)} µs CPU per operation`)
  })

const query = (connection: PgConnection.PgConnection, sql: string) => connection.query(sql, [], true)

const program = (only: string | undefined) =>
  Effect.gen(function*() {
    const db = yield* benchDatabase(undefined)
    const url = Redacted.make(db.url)
    const wants = (shape: string) => only === undefined || only === shape
    // The library's own client (`PgClient`): multiplexed, a transaction pins a connection.
    yield* Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      if (wants("statement")) yield* report("statement", sql.unsafe(SELECT))
      if (wants("withTransaction")) yield* report("withTransaction", sql.withTransaction(sql.unsafe(SELECT)))
    }).pipe(Effect.provide(Layer.fresh(PgClient.layer({ url, maxConnections: POOL, minConnections: POOL, multiplex: true }))))
    // wampgres' client (`PgPoolClient`): 13 connections, a quarter (3) for statements and 10 lanes.
    if (wants("lanes")) {
      yield* Effect.gen(function*() {
        const sql = yield* PgPoolClient.make({ url, maxConnections: POOL + Math.ceil(POOL / 3), minConnections: 0, multiplex: true }, () => Effect.void)
        yield* report("lanes", sql.withTransaction(sql.unsafe(SELECT)))
      }).pipe(Effect.scoped, Effect.provide(Reactivity.layer))
    }
    // A pool whose connections take one user at a time; pipelining on, so statements queued in one
    // tick leave in one write.
    const pool = yield* PgPool.make({ url, maxConnections: POOL, minConnections: POOL, multiplex: true, multiplexConcurrency: 1 })
    const withConnection = (f: (c: PgConnection.PgConnection) => Effect.Effect<unknown, unknown>) => Effect.scoped(Effect.flatMap(pool.get, f))
    if (wants("three-writes")) {
      yield* report("three-writes", withConnection((c) => Effect.andThen(query(c, "BEGIN"), Effect.andThen(query(c, SELECT), query(c, "COMMIT")))))
    }
    if (wants("begin-with-statement")) {
      yield* report(
        "begin-with-statement",
        withConnection((c) => Effect.andThen(Effect.all([query(c, "BEGIN"), query(c, SELECT)], { concurrency: "unbounded" }), query(c, "COMMIT")))
      )
    }
    if (wants("one-write")) {
      yield* report("one-write", withConnection((c) => Effect.all([query(c, "BEGIN"), query(c, SELECT), query(c, "COMMIT")], { concurrency: "unbounded" })))
    }
  })

Effect.runPromise(Effect.scoped(program(process.argv[2]))).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
