/**
 * Shutdown of the real process (src/main.ts as a child), observed from outside: the component joins
 * a router this test runs, through a WebSocket relay that records the component's frames; PostgreSQL
 * is the service's own embedded one, looked at with psql (locks, pg_stat_activity, the tables).
 *
 * - SIGTERM or SIGINT with a call in flight: the call completes, calls arriving during the drain get
 *   wamp.error.unavailable, the component sends GOODBYE, PostgreSQL stops, exit code 0;
 * - a call that does not end (blocked on a row lock another connection holds) is canceled when the
 *   drain time is over, and its transaction is rolled back (the tables, read after a restart);
 * - a shutdown that hangs (the router stops answering) is ended at the process's deadline, non-zero;
 * - npm disappearing (SIGKILL, so it passes nothing on) ends the service and its PostgreSQL.
 *
 * A call is "in flight" when PostgreSQL shows its statement waiting for the lock: no sleeps.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import { callRaw, clientSession, repoRoot } from "../support/index.js"
import {
  dataDirectory,
  fund,
  GOODBYE,
  isAlive,
  L,
  lockAccount,
  postmasterOf,
  psql,
  relay,
  service,
  testRouter,
  track,
  until,
  waitFor,
  waitingForLock
} from "./serviceProcess.js"

/** The service up with two accounts: a (100) and b (0), and a client session on the router. */
const ledgerUp = (env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const dataDir = yield* dataDirectory
    const router = yield* testRouter
    const path = yield* relay(router.url)
    const running = yield* service(dataDir, path.url, env)
    yield* Effect.promise(() => waitFor(running, /registered 5 procedures \{ group: .ledger. \}/))
    const postgres = yield* Effect.promise(() => postmasterOf(dataDir))
    const client = yield* clientSession(router.url)
    // accounts of the client's caller (open_account takes no arguments), funded as an admin would
    const open = (_owner: string, balance: number) =>
      Effect.gen(function*() {
        const id = (yield* callRaw(client, `${L}.open_account`)).args[0] as { id: number }
        if (balance > 0) yield* Effect.promise(() => fund(postgres.port, id.id, balance))
        return id.id
      })
    const a = yield* open("alice", 100)
    const b = yield* open("bob", 0)
    return { dataDir, router, relay: path, running, postgres, client, a, b }
  })

/** The call's outcome, as a value: its result's args[0], or its error URI. */
const settle = (call: Effect.Effect<{ readonly args: ReadonlyArray<unknown> }, { readonly error: string }>) =>
  Effect.runPromise(
    call.pipe(
      Effect.map((r) => ({ ok: true as const, value: r.args[0] })),
      Effect.catch((e) => Effect.succeed({ ok: false as const, error: e.error }))
    )
  )

describe("shutdown of the real process", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it.live(`${signal} with a call in flight: it completes, new calls get unavailable, GOODBYE, PostgreSQL stops, exit 0`, () =>
      Effect.gen(function*() {
        const up = yield* ledgerUp({ WAMP_DRAIN_TIMEOUT: "60 seconds" })
        const lock = yield* lockAccount(up.postgres.port, up.a)
        const inFlight = settle(callRaw(up.client, `${L}.transfer`, { kwargs: { from: up.a, to: up.b, amount: 30 } }))
        yield* Effect.promise(() => until("the transfer waits for the lock", async () => (await waitingForLock(up.postgres.port)) === 1))

        up.running.child.kill(signal)
        yield* Effect.promise(() => waitFor(up.running, /Draining 1 call\(s\) in flight/))
        // during the drain: a new call is refused, the one in flight still runs
        const during = yield* Effect.promise(() => settle(callRaw(up.client, `${L}.get_account`, { args: [up.a] })))
        assert.deepStrictEqual(during, { ok: false, error: "wamp.error.unavailable" })
        assert.isNull(up.running.child.exitCode)

        yield* Effect.promise(() => lock.release())
        const completed = yield* Effect.promise(() => inFlight)
        assert.isTrue(completed.ok, JSON.stringify(completed))
        assert.include(completed.value as object, { from_balance: 70 })

        assert.strictEqual(yield* Effect.promise(() => up.running.exited), 0, up.running.output())
        assert.isTrue(up.relay.sent.some((m) => m[0] === GOODBYE), "the component left with GOODBYE")
        assert.isFalse(isAlive(up.postgres.pid), "PostgreSQL is still running")
        assert.match(up.running.output(), /Embedded PostgreSQL stopped/)
      }), 120_000)
  }

  it.live("a call that does not end is canceled at the drain limit and its transaction rolled back", () =>
    Effect.gen(function*() {
      const up = yield* ledgerUp({ WAMP_DRAIN_TIMEOUT: "1 second" })
      const lock = yield* lockAccount(up.postgres.port, up.a)
      const inFlight = settle(callRaw(up.client, `${L}.transfer`, { kwargs: { from: up.a, to: up.b, amount: 30 } }))
      yield* Effect.promise(() => until("the transfer waits for the lock", async () => (await waitingForLock(up.postgres.port)) === 1))

      up.running.child.kill("SIGTERM")
      yield* Effect.promise(() => waitFor(up.running, /Drain time 1s over: canceling 1 call\(s\)/))
      const canceled = yield* Effect.promise(() => inFlight)
      assert.isFalse(canceled.ok, JSON.stringify(canceled))
      // the service stops its PostgreSQL with the lock still held (that ends the holder's session too)
      assert.strictEqual(yield* Effect.promise(() => up.running.exited), 0, up.running.output())
      yield* Effect.promise(() => lock.release())
      assert.isFalse(isAlive(up.postgres.pid), "PostgreSQL is still running")

      // the data as PostgreSQL kept it: started again, no transfer and the balances unchanged
      const again = yield* service(up.dataDir, up.relay.url)
      yield* Effect.promise(() => waitFor(again, /registered 5 procedures \{ group: .ledger. \}/))
      const { port } = yield* Effect.promise(() => postmasterOf(up.dataDir))
      assert.strictEqual(yield* Effect.promise(() => psql(port, "SELECT count(*) FROM ledger_transfers")), "0")
      assert.strictEqual(
        yield* Effect.promise(() => psql(port, `SELECT string_agg(balance::text, ',' ORDER BY id) FROM ledger_accounts`)),
        "100,0"
      )
    }), 120_000)

  it.live("a shutdown that hangs (the router stops answering) is ended at the deadline with a non-zero exit code", () =>
    Effect.gen(function*() {
      const up = yield* ledgerUp({ WAMP_REQUEST_TIMEOUT: "120 seconds" })
      up.relay.freeze()
      const stopped = Date.now()
      up.running.child.kill("SIGTERM")
      const code = yield* Effect.promise(() => up.running.exited)
      const after = Date.now() - stopped
      assert.notStrictEqual(code, 0, up.running.output())
      assert.notStrictEqual(code, null, "ended by its own deadline, not by a signal")
      // the deadline is 15 s after the signal: not before, and well before the 120 s request timeout
      assert.isAtLeast(after, 14_000)
      assert.isBelow(after, 60_000)
      // the exit hook stops PostgreSQL even so
      yield* Effect.promise(() => until("PostgreSQL stops after the forced exit", () => !isAlive(up.postgres.pid)))
    }), 120_000)

  it.live("npm disappearing (SIGKILL) ends the service and its PostgreSQL", () =>
    Effect.gen(function*() {
      const dataDir = yield* dataDirectory
      const npm = track(ChildProcess.spawn("npm", ["start"], {
        cwd: repoRoot,
        detached: true,
        env: { ...process.env, ROUTER_PORT: "0", WAMPGRES_DATA_DIR: dataDir, DATABASE_URL: "", PGHOST: "", WAMP_URL: "", LOG_LEVEL: "Info" },
        stdio: ["ignore", "pipe", "pipe"]
      }))
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          try {
            process.kill(-npm.child.pid!, "SIGKILL")
          } catch {
            // already gone
          }
        })
      )
      yield* Effect.promise(() => waitFor(npm, /registered 5 procedures \{ group: .ledger. \}/))
      const postgres = yield* Effect.promise(() => postmasterOf(dataDir))
      const servicePid = Number(ChildProcess.execFileSync("pgrep", ["-P", String(npm.child.pid)], { encoding: "utf8" }).trim().split("\n")[0])
      assert.isTrue(isAlive(servicePid))
      npm.child.kill("SIGKILL")
      yield* Effect.promise(() => until("the service ends after npm", () => !isAlive(servicePid)))
      yield* Effect.promise(() => until("its PostgreSQL stops", () => !isAlive(postgres.pid)))
      assert.match(npm.output(), /npm exited: shutting down/)
    }), 120_000)
})
