/**
 * Idempotent transfers: `com.example.ledger.transfer` with `idempotency_key`. The outcome of the
 * first call (result or typed error) is stored with the transfer in one transaction; a repeated
 * call with the key returns it without moving money again, also when the calls race, when the
 * component restarted in between, and through the typed client's retrying helper. Keys are the
 * caller's own: another caller's equal key is a new key and never reads the first caller's outcome.
 * Every session is a caller of its own (`callers.ts`); funds are minted by an admin.
 */
import { assert, layer } from "@effect/vitest"
import type autobahn from "autobahn"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import { wampError } from "../../../src/layers/WampSession.js"
import * as Client from "../../../src/procedures/Client.js"
import * as LedgerContract from "../../../src/procedures/ledger/contract.js"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import { Router } from "../../../src/router/index.js"
import { Uri, WampgresUri } from "../../../src/wamp/uris.js"
import { callRaw, clientWamp, componentLayer, TestDatabase, TestRouter } from "../../support/index.js"
import { caller, callersRouterConfig, funded, mint, urlFor } from "./callers.js"

const L = "com.example.ledger"

const Env = Layer.mergeAll(TestRouter.layer({ configFile: callersRouterConfig }), TestDatabase.layer)

/** Starts the component in a scope of its own (`stop` ends it, as a restart would). */
const startComponent = Effect.gen(function*() {
  const context = yield* Effect.context<Router | TestDatabase | SqlClient.SqlClient>()
  const scope = yield* Scope.make()
  yield* Layer.buildWithScope(
    componentLayer(Layer.fresh(Ledger.layer)).pipe(Layer.provide(Layer.succeedContext(context))),
    scope
  ).pipe(Effect.provide(Layer.succeedContext(context)))
  return { stop: Scope.close(scope, Exit.void) }
})

/** A new account of `session`'s caller holding `balance`; its id. */
const account = (session: autobahn.Session, balance: number) => Effect.map(funded(session, balance), (a) => a.id)

/** Transfers paid from `from`, counted as the admin authrole (row-level security shows it all). */
const transfers = (from: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(Effect.andThen(
      sql`SELECT set_config('wampgres.authrole', 'admin', true)`,
      Effect.map(
        sql<{ n: number }>`SELECT count(*)::int AS n FROM ledger_transfers WHERE from_account = ${from}`,
        (rows) => rows[0]!.n
      )
    )))

const transfer = (session: autobahn.Session, kwargs: Record<string, unknown>) =>
  callRaw(session, `${L}.transfer`, { kwargs })

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("idempotent transfers", (it) => {
  it.effect("a repeated call with the same key returns the first result and moves money once, even after a restart", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const first = yield* startComponent
      const session = yield* caller()
      const [a, b] = [yield* account(session, 100), yield* account(session, 0)]
      const kwargs = { from: a, to: b, amount: 30, idempotency_key: "k-restart" }
      const original = yield* transfer(session, kwargs)
      const again = yield* transfer(session, kwargs)
      assert.deepStrictEqual(again.args, original.args)
      assert.deepStrictEqual(original.args[0], { id: (original.args[0] as { id: number }).id, from_balance: 70 })

      yield* first.stop
      const second = yield* startComponent
      yield* Effect.addFinalizer(() => second.stop)
      const afterRestart = yield* transfer(session, kwargs).pipe(
        Effect.retry({ while: (e) => e.error === "wamp.error.no_such_procedure", times: 50 })
      )
      assert.deepStrictEqual(afterRestart.args, original.args)
      assert.strictEqual(yield* transfers(a), 1, "one transfer row for three calls")
      const other = yield* transfer(session, { ...kwargs, idempotency_key: "k-restart-2" })
      assert.deepStrictEqual((other.args[0] as { from_balance: number }).from_balance, 40, "a new key moves money again")
    }))

  it.effect("a typed error is stored too: the retry gets insufficient_funds even after the balance changed", () =>
    Effect.gen(function*() {
      const component = yield* startComponent
      yield* Effect.addFinalizer(() => component.stop)
      const session = yield* caller()
      const [a, b] = [yield* account(session, 5), yield* account(session, 0)]
      const kwargs = { from: a, to: b, amount: 10, idempotency_key: "k-poor" }
      const error = yield* Effect.flip(transfer(session, kwargs))
      assert.strictEqual(error.error, `${L}.error.insufficient_funds`)
      yield* mint(a, 995)
      const again = yield* Effect.flip(transfer(session, kwargs))
      assert.strictEqual(again.error, `${L}.error.insufficient_funds`)
      assert.deepStrictEqual(again.kwargs, error.kwargs)
      assert.strictEqual(yield* transfers(a), 0)

      const conflict = yield* Effect.flip(transfer(session, { ...kwargs, amount: 11 }))
      assert.strictEqual(conflict.error, "wamp.error.invalid_argument")
      assert.match(conflict.message, /idempotency_key/)
      for (const key of ["", "x".repeat(201), 7]) {
        const bad = yield* Effect.flip(transfer(session, { ...kwargs, idempotency_key: key }))
        assert.strictEqual(bad.error, "wamp.error.invalid_argument", JSON.stringify(key))
      }
    }))

  it.effect("20 concurrent calls with one key: one transfer, 20 identical results", () =>
    Effect.gen(function*() {
      const component = yield* startComponent
      yield* Effect.addFinalizer(() => component.stop)
      const session = yield* caller()
      const [a, b] = [yield* account(session, 100), yield* account(session, 0)]
      const kwargs = { from: a, to: b, amount: 7, idempotency_key: "k-race" }
      const results = yield* Effect.all(
        Array.from({ length: 20 }, () => transfer(session, kwargs)),
        { concurrency: "unbounded" }
      )
      const distinct = new Set(results.map((r) => JSON.stringify(r.args)))
      assert.strictEqual(distinct.size, 1, [...distinct].join("\n"))
      assert.strictEqual(yield* transfers(a), 1)
    }))

  it.effect("keys are per caller: another caller's equal key is a new key and never returns the first caller's outcome", () =>
    Effect.gen(function*() {
      const component = yield* startComponent
      yield* Effect.addFinalizer(() => component.stop)
      const ada = yield* caller()
      const bob = yield* caller()
      const [a, b] = [yield* account(ada, 100), yield* account(bob, 50)]
      const first = yield* transfer(ada, { from: a, to: b, amount: 30, idempotency_key: "k-shared" })
      assert.strictEqual((first.args[0] as { from_balance: number }).from_balance, 70)
      // the same key for bob's own transfer: done, its own result
      const own = yield* transfer(bob, { from: b, to: a, amount: 5, idempotency_key: "k-shared" })
      assert.strictEqual((own.args[0] as { from_balance: number }).from_balance, 75)
      // ada's key and arguments from bob: bob's key is bound to bob's transfer, ada's outcome stays hers
      const replayed = yield* Effect.flip(transfer(bob, { from: a, to: b, amount: 30, idempotency_key: "k-shared" }))
      assert.strictEqual(replayed.error, "wamp.error.invalid_argument")
      // with a fresh key, ada's arguments are refused by row-level security (not bob's account)
      const stolen = yield* Effect.flip(transfer(bob, { from: a, to: b, amount: 30, idempotency_key: "k-bob-2" }))
      assert.strictEqual(stolen.error, `${L}.error.no_such_account`)
      assert.deepStrictEqual([yield* transfers(a), yield* transfers(b)], [1, 1])
    }))

  it.effect("Client.callIdempotent sends a generated key and resends it: the typed result, money moved once", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const component = yield* startComponent
      yield* Effect.addFinalizer(() => component.stop)
      const wamp = yield* Layer.build(clientWamp(urlFor(router, "user")))
      const open = Effect.provide(Client.call(LedgerContract.openAccount, {}), wamp)
      const [a, b] = [(yield* open).id, (yield* open).id]
      yield* mint(a, 50)
      const key = Client.idempotencyKey()
      assert.match(key, /^[0-9a-f-]{36}$/)
      const call = Client.callIdempotent(LedgerContract.transfer, { from: a, to: b, amount: 20 }, { key })
      const first = yield* Effect.provide(call, wamp)
      const second = yield* Effect.provide(call, wamp)
      assert.deepStrictEqual(second, first)
      assert.strictEqual(first.from_balance, 30)
      assert.strictEqual(yield* transfers(a), 1)
      assert.isTrue(Client.isRetryable(wampError(WampgresUri.timeout, "no answer")))
      assert.isTrue(Client.isRetryable(wampError(Uri.noSuchProcedure, "failover")))
      assert.isFalse(Client.isRetryable(wampError(`${L}.error.insufficient_funds`, "poor")))
    }))
})
