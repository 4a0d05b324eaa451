/**
 * The ledger workloads' protocol handling (open accounts, transfers, progressive history rows
 * through autobahn's `notify`) against our real router, with a small in-memory ledger callee
 * defined here. It tests the load client, not the ledger: the real ledger runs in `npm run bench`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Queue } from "effect"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadAutobahn, openSession } from "../lib/autobahn.js"
import { spawnChild } from "../lib/child.js"
import type { LoadResult, WorkloadName } from "../lib/protocol.js"
import { ourRouterMissing } from "../lib/scenarios.js"

interface Account {
  id: number
  owner: string
  balance: number
}
interface Transfer {
  id: number
  from: number
  to: number
  amount: number
  at: string
}

/** Registers an in-memory ledger with the API of the issue (results in args[0]). */
const fakeLedger = async (url: string) => {
  const autobahn = loadAutobahn()
  // autobahn warns on every close through console.warn; the test's output should stay readable.
  autobahn.log.warn = () => undefined
  const opened = await openSession(url, "realm1", "json")
  const accounts = new Map<number, Account>()
  const transfers: Array<Transfer> = []
  const L = "com.example.ledger"
  const noSuch = () => new autobahn.Error(`${L}.error.no_such_account`)
  // Owners are not checked here: the real ledger's row-level security is tested in test/integration.
  await opened.session.register(`${L}.open_account`, () => {
    const account = { id: accounts.size + 1, owner: "caller", balance: 0 }
    accounts.set(account.id, account)
    return new autobahn.Result([account], {})
  })
  await opened.session.register(`${L}.mint`, (_, kw) => {
    const account = accounts.get(Number(kw.account))
    if (account === undefined) throw noSuch()
    account.balance += Number(kw.amount)
    return new autobahn.Result([account], {})
  })
  await opened.session.register(`${L}.get_account`, (_, kw) => {
    const account = accounts.get(Number(kw.id))
    if (account === undefined) throw noSuch()
    return new autobahn.Result([account], {})
  })
  await opened.session.register(`${L}.transfer`, (_, kw) => {
    const from = accounts.get(Number(kw.from))
    const to = accounts.get(Number(kw.to))
    if (from === undefined || to === undefined) throw noSuch()
    const amount = Number(kw.amount)
    if (from.balance < amount) throw new autobahn.Error(`${L}.error.insufficient_funds`)
    from.balance -= amount
    to.balance += amount
    const t = { id: transfers.length + 1, from: from.id, to: to.id, amount, at: new Date().toISOString() }
    transfers.push(t)
    return new autobahn.Result([{ id: t.id, from_balance: from.balance }], {})
  })
  await opened.session.register(`${L}.history`, (_, kw, details) => {
    const account = Number(kw.account)
    const rows = transfers.filter((t) => t.from === account || t.to === account).slice(0, Number(kw.limit ?? Infinity))
    const progress = (details as { progress?: (args: Array<unknown>) => void }).progress
    if (progress === undefined) return new autobahn.Result([{ count: rows.length, transfers: rows }], {})
    for (const row of rows) progress([row])
    return new autobahn.Result([{ count: rows.length }], {})
  })
  return opened
}

const runWorkload = (workload: WorkloadName, inflight: number) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "bench-ledger-test-"))),
      (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
    )
    const config = join(dir, "router.json")
    yield* Effect.promise(() =>
      writeFile(config, JSON.stringify({
        version: 2,
        workers: [{
          type: "router",
          realms: [{ name: "realm1", roles: [{ name: "anonymous", permissions: [{ uri: "*", allow: { call: true, register: true, publish: true, subscribe: true } }] }] }],
          transports: [{ type: "websocket", endpoint: { type: "tcp", port: 0, interface: "127.0.0.1" } }]
        }]
      }))
    )
    const router = yield* spawnChild({ name: "router", script: join(process.cwd(), "bench/children/router-wampgres.ts"), args: [config], speaksIpc: true })
    const url = router.url!
    yield* Effect.acquireRelease(Effect.promise(() => fakeLedger(url)), (o) => Effect.promise(() => o.close()))
    const client = yield* spawnChild({ name: "client", script: join(process.cwd(), "bench/children/load-client.ts"), speaksIpc: true })
    yield* client.send({
      type: "run-load",
      config: {
        url,
        realm: "realm1",
        serializer: "msgpack",
        workload,
        sessions: 2,
        inflight,
        warmupMs: 200,
        durationMs: 800,
        readyTimeoutMs: 5_000,
        runId: "test"
      }
    })
    for (;;) {
      const message = yield* Queue.take(client.messages)
      if (message.type === "result") return message.result
      if (message.type === "failed") return yield* Effect.die(new Error(message.message))
    }
  }).pipe(Effect.scoped)

const skip = ourRouterMissing() !== undefined

describe("ledger workloads against a stand-in ledger on our router", () => {
  it.live.skipIf(skip)("transfer: every result checked, the sum of balances verified after the run", () =>
    Effect.gen(function*() {
      const result: LoadResult = yield* runWorkload("ledger.transfer", 4)
      expect(result.errors, JSON.stringify(result.errorSamples)).toBe(0)
      expect(result.ok).toBeGreaterThan(10)
      expect(result.finalChecks).toEqual([
        expect.objectContaining({ name: "sum of balances unchanged", ok: true })
      ])
    }))

  it.live.skipIf(skip)("history: 10,000 progressive rows per call, counted and checked", () =>
    Effect.gen(function*() {
      const result: LoadResult = yield* runWorkload("ledger.history", 2)
      expect(result.errors, JSON.stringify(result.errorSamples)).toBe(0)
      expect(result.ok).toBeGreaterThan(0)
      expect(result.rowsPerSecond).toBeCloseTo((result.ok * 10_000 * 1000) / result.windowMs, 3)
    }), 60_000)
})
