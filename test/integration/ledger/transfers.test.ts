/**
 * The ledger end to end: autobahn clients call through the embedded router into the component,
 * which works on the test run's PostgreSQL (its own database, migrated by the ledger's layer).
 * Accounts, transfers under concurrency, errors and their URIs, events after commit, migrations.
 */
import { assert, layer } from "@effect/vitest"
import type autobahn from "autobahn"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SqlClient from "effect/sql/SqlClient"
import * as Migrations from "../../../src/procedures/Migrations.js"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import { Router } from "../../../src/router/index.js"
import { callRaw, clientSession, componentLayer, TestDatabase, TestRouter } from "../../support/index.js"

const Env = componentLayer(Ledger.layer).pipe(
  Layer.provideMerge(TestRouter.layer()),
  Layer.provideMerge(TestDatabase.layer)
)

const L = "com.example.ledger"

const open = (session: autobahn.Session, owner: string, balance: number) =>
  Effect.map(
    callRaw(session, `${L}.open_account`, { kwargs: { owner, balance } }),
    (result) => result.args[0] as { id: number; owner: string; balance: number }
  )

const balanceOf = (session: autobahn.Session, id: number) =>
  Effect.map(callRaw(session, `${L}.get_account`, { args: [id] }), (result) => (result.args[0] as { balance: number }).balance)

/** Subscribes a client to a topic and collects the events' args[0]. */
const collect = (session: autobahn.Session, topic: string) =>
  Effect.gen(function*() {
    const events: Array<Record<string, unknown>> = []
    yield* Effect.promise(() => session.subscribe(topic, (args) => void events.push(args?.[0] as Record<string, unknown>)))
    return events
  })

/** Waits until `check` holds (events travel asynchronously), with a generous ceiling. */
const eventually = (check: () => boolean, millis = 30_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!check() && Date.now() < deadline) yield* Effect.sleep("20 millis")
  })

let owners = 0
const owner = (prefix: string) => `${prefix}-${++owners}-${Date.now()}`

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("com.example.ledger", (it) => {
  it.effect("open_account returns the account; get_account finds it by args [id] or kwargs {id}", () =>
    Effect.gen(function*() {
      const session = yield* clientSession((yield* Router).url)
      const name = owner("ada")
      const account = yield* open(session, name, 100)
      assert.deepStrictEqual(Object.keys(account).sort(), ["balance", "id", "owner"])
      assert.strictEqual(account.owner, name)
      assert.strictEqual(account.balance, 100)
      assert.isTrue(Number.isInteger(account.id))
      const byArgs = yield* callRaw(session, `${L}.get_account`, { args: [account.id] })
      assert.deepStrictEqual(byArgs.args, [account])
      const byKwargs = yield* callRaw(session, `${L}.get_account`, { kwargs: { id: account.id } })
      assert.deepStrictEqual(byKwargs.args, [account])
    }))

  it.effect("open_account: an existing owner is duplicate_owner; bad arguments are invalid_argument", () =>
    Effect.gen(function*() {
      const session = yield* clientSession((yield* Router).url)
      const name = owner("bob")
      yield* open(session, name, 1)
      const duplicate = yield* Effect.flip(open(session, name, 5))
      assert.strictEqual(duplicate.error, `${L}.error.duplicate_owner`)
      assert.strictEqual(duplicate.kwargs["owner"], name)
      for (const kwargs of [{ owner: "", balance: 1 }, { owner: "x".repeat(101), balance: 1 }, { owner: "c", balance: -1 }, {
        owner: "c",
        balance: 1.5
      }, { owner: "c" }]) {
        const error = yield* Effect.flip(callRaw(session, `${L}.open_account`, { kwargs }))
        assert.strictEqual(error.error, "wamp.error.invalid_argument", JSON.stringify(kwargs))
      }
      const longest = yield* open(session, owner("long").padEnd(100, "z"), 0)
      assert.strictEqual(longest.owner.length, 100)
    }))

  it.effect("get_account of an unknown id is no_such_account", () =>
    Effect.gen(function*() {
      const session = yield* clientSession((yield* Router).url)
      const error = yield* Effect.flip(callRaw(session, `${L}.get_account`, { args: [987654321] }))
      assert.strictEqual(error.error, `${L}.error.no_such_account`)
      assert.strictEqual(error.kwargs["id"], 987654321)
    }))

  it.effect("transfer moves money, returns both balances and publishes on_transfer after commit", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const session = yield* clientSession(router.url)
      const listener = yield* clientSession(router.url)
      const events = yield* collect(listener, `${L}.on_transfer`)
      const a = yield* open(session, owner("payer"), 100)
      const b = yield* open(session, owner("payee"), 5)
      const result = yield* callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 30 } })
      const transfer = result.args[0] as { id: number; from_balance: number; to_balance: number }
      assert.deepStrictEqual({ ...transfer, id: 0 }, { id: 0, from_balance: 70, to_balance: 35 })
      assert.strictEqual(yield* balanceOf(session, a.id), 70)
      assert.strictEqual(yield* balanceOf(session, b.id), 35)
      yield* eventually(() => events.length >= 1)
      assert.strictEqual(events.length, 1)
      const event = events[0]!
      assert.deepStrictEqual({ ...event, at: "" }, { id: transfer.id, from: a.id, to: b.id, amount: 30, at: "" })
      assert.isFalse(Number.isNaN(Date.parse(String(event["at"]))))
    }))

  it.effect("transfer errors: insufficient_funds writes and publishes nothing; unknown accounts; bad arguments", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const sql = yield* SqlClient.SqlClient
      const session = yield* clientSession(router.url)
      const listener = yield* clientSession(router.url)
      const events = yield* collect(listener, `${L}.on_transfer`)
      const a = yield* open(session, owner("poor"), 10)
      const b = yield* open(session, owner("rich"), 1000)
      const [before] = yield* sql<{ n: bigint }>`SELECT count(*) AS n FROM ledger_transfers`

      const poor = yield* Effect.flip(callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 11 } }))
      assert.strictEqual(poor.error, `${L}.error.insufficient_funds`)
      assert.deepStrictEqual(poor.kwargs, { account: a.id, amount: 11 })
      assert.deepStrictEqual(poor.args, [`account ${a.id} cannot pay 11`])

      const unknownTo = yield* Effect.flip(callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: 99999999, amount: 1 } }))
      assert.strictEqual(unknownTo.error, `${L}.error.no_such_account`)
      assert.strictEqual(unknownTo.kwargs["id"], 99999999)
      const unknownFrom = yield* Effect.flip(callRaw(session, `${L}.transfer`, { kwargs: { from: 99999998, to: a.id, amount: 1 } }))
      assert.strictEqual(unknownFrom.error, `${L}.error.no_such_account`)
      assert.strictEqual(unknownFrom.kwargs["id"], 99999998)

      for (const kwargs of [
        { from: a.id, to: a.id, amount: 1 },
        { from: a.id, to: b.id, amount: 0 },
        { from: a.id, to: b.id, amount: -5 },
        { from: a.id, to: b.id, amount: 1.5 },
        { from: a.id, to: b.id },
        { from: String(a.id), to: b.id, amount: 1 }
      ]) {
        const error = yield* Effect.flip(callRaw(session, `${L}.transfer`, { kwargs }))
        assert.strictEqual(error.error, "wamp.error.invalid_argument", JSON.stringify(kwargs))
      }
      const [after] = yield* sql<{ n: bigint }>`SELECT count(*) AS n FROM ledger_transfers`
      assert.strictEqual(after!.n, before!.n)
      assert.strictEqual(yield* balanceOf(session, a.id), 10)
      assert.strictEqual(yield* balanceOf(session, b.id), 1000)
      // A transfer that commits afterwards is the only event seen: a second one is the barrier (the
      // component publishes in commit order, WAMP keeps one publisher's order), so nothing came before
      yield* callRaw(session, `${L}.transfer`, { kwargs: { from: b.id, to: a.id, amount: 1 } })
      yield* callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 2 } })
      yield* eventually(() => events.length >= 2)
      assert.deepStrictEqual(events.map((e) => [e["from"], e["amount"]]), [[b.id, 1], [a.id, 2]])
    }))

  it.effect("concurrent transfers from several sessions: sum constant, no negative balance, events = commits", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const sql = yield* SqlClient.SqlClient
      const sessions = yield* Effect.forEach([1, 2, 3, 4], () => clientSession(router.url))
      const listener = yield* clientSession(router.url)
      const events = yield* collect(listener, `${L}.on_transfer`)
      const accounts = yield* Effect.forEach([0, 1, 2, 3, 4], (i) => open(sessions[0]!, owner(`c${i}`), 50))
      const ids = accounts.map((a) => a.id)
      let committed = 0
      let refused = 0
      const other: Array<string> = []
      // 400 transfers between 5 accounts in both directions, 40 at a time: contention, opposite lock
      // orders, and amounts that often exceed the balance.
      yield* Effect.forEach(Array.from({ length: 400 }, (_, i) => i), (i) => {
        const from = ids[i % 5]!
        const to = ids[(i * 3 + 1 + Math.floor(i / 5)) % 5]!
        const pick = from === to ? ids[(i + 1) % 5]! : to
        return callRaw(sessions[i % 4]!, `${L}.transfer`, { kwargs: { from, to: pick, amount: 1 + (i * 7) % 40 } }).pipe(
          Effect.match({
            onSuccess: (result) => {
              committed++
              const r = result.args[0] as { from_balance: number; to_balance: number }
              assert.isAtLeast(r.from_balance, 0)
              assert.isAtLeast(r.to_balance, 0)
            },
            onFailure: (error) => error.error === `${L}.error.insufficient_funds` ? refused++ : other.push(error.error)
          })
        )
      }, { concurrency: 40, discard: true })
      assert.deepStrictEqual(other, [], "only insufficient_funds may fail: no deadlock or serialization error")
      assert.strictEqual(committed + refused, 400)
      assert.isAbove(committed, 100)
      const balances = yield* sql<{ balance: bigint }>`SELECT balance FROM ledger_accounts WHERE id IN ${sql.in(ids)}`
      assert.strictEqual(balances.reduce((sum, row) => sum + row.balance, 0n), 250n)
      for (const row of balances) assert.isTrue(row.balance >= 0n)
      const [stored] = yield* sql<{ n: bigint }>`SELECT count(*) AS n FROM ledger_transfers WHERE from_account IN ${sql.in(ids)}`
      assert.strictEqual(Number(stored!.n), committed)
      // a barrier: one more transfer, committed after all of them, is the last event; before it, one
      // event per commit and no more
      const [rich] = yield* sql<{ id: bigint }>`SELECT id FROM ledger_accounts WHERE id IN ${sql.in(ids)} AND balance >= 1 LIMIT 1`
      const from = Number(rich!.id)
      const barrier = (yield* callRaw(sessions[0]!, `${L}.transfer`, {
        kwargs: { from, to: ids.find((id) => id !== from)!, amount: 1 }
      })).args[0] as { id: number }
      yield* eventually(() => events.some((e) => e["id"] === barrier.id))
      assert.strictEqual(events.at(-1)!["id"], barrier.id)
      assert.strictEqual(events.filter((e) => ids.includes(e["from"] as number)).length, committed + 1)
    }))

  it.effect("migrations: recorded in the ledger's own table; running them again applies nothing", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const recorded = yield* sql<{ migration_id: number; name: string }>`
        SELECT migration_id, name FROM wampgres_migrations_ledger ORDER BY migration_id`
      assert.deepStrictEqual(recorded.map((r) => [r.migration_id, r.name]), [[1, "accounts"], [2, "transfers"], [3, "notify_balance"], [5, "outbox_balance"]])
      const again = yield* Migrations.run("ledger", Migrations.fromDirectory(new URL("../../../src/procedures/ledger/migrations/", import.meta.url)))
      assert.deepStrictEqual(again, [])
    }))

  it.effect("a transfer rolled back at COMMIT publishes nothing; one aborted by 40001 is retried and published once", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const sql = yield* SqlClient.SqlClient
      const session = yield* clientSession(router.url)
      const listener = yield* clientSession(router.url)
      const events = yield* collect(listener, `${L}.on_transfer`)
      // Test-only triggers: amount 13 fails at COMMIT (a deferred constraint trigger), amount 17
      // fails with serialization_failure the first two times (a sequence survives rollbacks).
      yield* sql.unsafe(`CREATE SEQUENCE test_serialization_failures`)
      yield* sql.unsafe(`CREATE FUNCTION test_transfer_faults() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.amount = 13 THEN RAISE EXCEPTION 'refused at commit' USING ERRCODE = '23514'; END IF;
          IF NEW.amount = 17 AND nextval('test_serialization_failures') <= 2 THEN
            RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001';
          END IF;
          RETURN NULL;
        END $$`)
      yield* sql.unsafe(`CREATE CONSTRAINT TRIGGER test_transfer_faults AFTER INSERT ON ledger_transfers
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_transfer_faults()`)
      yield* Effect.addFinalizer(() =>
        Effect.ignore(sql.unsafe(`DROP TRIGGER test_transfer_faults ON ledger_transfers`))
      )
      const a = yield* open(session, owner("fault-a"), 100)
      const b = yield* open(session, owner("fault-b"), 100)

      const atCommit = yield* Effect.flip(callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 13 } }))
      // The check violation at COMMIT is mapped like the balance CHECK: nothing was transferred.
      assert.strictEqual(atCommit.error, `${L}.error.insufficient_funds`)
      assert.strictEqual(yield* balanceOf(session, a.id), 100)

      const retried = yield* callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 17 } })
      assert.deepStrictEqual({ ...(retried.args[0] as object), id: 0 }, { id: 0, from_balance: 83, to_balance: 117 })
      const [failures] = yield* sql<{ n: bigint }>`SELECT last_value AS n FROM test_serialization_failures`
      assert.strictEqual(failures!.n, 3n, "two aborted attempts, the third committed")
      const [stored] = yield* sql<{ n: bigint }>`SELECT count(*) AS n FROM ledger_transfers WHERE from_account = ${a.id}`
      assert.strictEqual(stored!.n, 1n)

      // the next transfer's event is the barrier: only the committed attempt published before it
      yield* callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 1 } })
      yield* eventually(() => events.length >= 2)
      assert.deepStrictEqual(events.map((e) => e["amount"]), [17, 1])
    }))
})
