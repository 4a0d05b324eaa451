/**
 * The ledger end to end: autobahn clients call through the embedded router into the component,
 * which works on the test run's PostgreSQL (its own database, migrated by the ledger's layer).
 * Accounts, transfers under concurrency, errors and their URIs, events after commit, migrations.
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as Migrations from "../../../src/procedures/Migrations.js"
import { callRaw, inTestDatabaseAsSuperuser } from "../../support/index.js"
import { authidOf, balanceOf, caller, collect, eventually, funded, L, LedgerEnv as Env, mint, open } from "./callers.js"

layer(Env, { excludeTestServices: true, timeout: "60 seconds" })("com.example.ledger", (it) => {
  it.effect("open_account opens an account of the caller with balance 0; get_account finds it by args [id] or kwargs {id}", () =>
    Effect.gen(function*() {
      const session = yield* caller()
      const opened = yield* open(session)
      assert.deepStrictEqual(Object.keys(opened).sort(), ["balance", "id", "owner"])
      assert.strictEqual(opened.owner, yield* authidOf(session))
      assert.strictEqual(opened.balance, 0)
      assert.isTrue(Number.isInteger(opened.id))
      const account = yield* mint(opened.id, 100)
      assert.deepStrictEqual(account, { ...opened, balance: 100 })
      const byArgs = yield* callRaw(session, `${L}.get_account`, { args: [account.id] })
      assert.deepStrictEqual(byArgs.args, [account])
      const byKwargs = yield* callRaw(session, `${L}.get_account`, { kwargs: { id: account.id } })
      assert.deepStrictEqual(byKwargs.args, [account])
    }))

  it.effect("open_account takes no arguments (no owner, no balance); an owner may hold several accounts", () =>
    Effect.gen(function*() {
      const session = yield* caller()
      for (const kwargs of [{ owner: "bob" }, { balance: 100 }, { owner: "bob", balance: 1 }]) {
        const error = yield* Effect.flip(callRaw(session, `${L}.open_account`, { kwargs }))
        assert.strictEqual(error.error, "wamp.error.invalid_argument", JSON.stringify(kwargs))
      }
      const first = yield* open(session)
      const second = yield* open(session)
      assert.notStrictEqual(first.id, second.id)
      assert.strictEqual(second.owner, first.owner)
    }))

  it.effect("mint is for the admin authrole only; minting to an unknown account is no_such_account", () =>
    Effect.gen(function*() {
      const session = yield* caller()
      const account = yield* open(session)
      const refused = yield* Effect.flip(callRaw(session, `${L}.mint`, { kwargs: { account: account.id, amount: 5 } }))
      assert.strictEqual(refused.error, "wamp.error.not_authorized")
      assert.strictEqual(yield* balanceOf(session, account.id), 0)
      const unknown = yield* Effect.flip(mint(987654321, 5))
      assert.strictEqual(unknown.error, `${L}.error.no_such_account`)
      for (const amount of [0, -1, 1.5]) {
        const error = yield* Effect.flip(mint(account.id, amount))
        assert.strictEqual(error.error, "wamp.error.invalid_argument", String(amount))
      }
    }))

  it.effect("get_account of an unknown id is no_such_account", () =>
    Effect.gen(function*() {
      const session = yield* caller()
      const error = yield* Effect.flip(callRaw(session, `${L}.get_account`, { args: [987654321] }))
      assert.strictEqual(error.error, `${L}.error.no_such_account`)
      assert.strictEqual(error.kwargs["id"], 987654321)
    }))

  it.effect("transfer moves money to another owner's account, returns the payer's balance, publishes on_transfer to the payer after commit", () =>
    Effect.gen(function*() {
      const session = yield* caller()
      const payee = yield* caller()
      const events = yield* collect(session, `${L}.on_transfer`)
      const payeeEvents = yield* collect(payee, `${L}.on_transfer`)
      const a = yield* funded(session, 100)
      const b = yield* funded(payee, 5)
      const result = yield* callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 30 } })
      const transfer = result.args[0] as { id: number; from_balance: number }
      assert.deepStrictEqual({ ...transfer, id: 0 }, { id: 0, from_balance: 70 })
      assert.strictEqual(yield* balanceOf(session, a.id), 70)
      assert.strictEqual(yield* balanceOf(payee, b.id), 35)
      yield* eventually(() => events.length >= 1)
      assert.strictEqual(events.length, 1)
      const event = events[0]!
      assert.deepStrictEqual({ ...event, at: "" }, { id: transfer.id, from: a.id, to: b.id, amount: 30, at: "" })
      assert.isFalse(Number.isNaN(Date.parse(String(event["at"]))))
      assert.deepStrictEqual(payeeEvents, [])
    }))

  it.effect("transfer errors: insufficient_funds writes and publishes nothing; unknown accounts; bad arguments", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const session = yield* caller()
      const events = yield* collect(session, `${L}.on_transfer`)
      const a = yield* funded(session, 10)
      const b = yield* funded(session, 1000)
      const count = inTestDatabaseAsSuperuser((su) => su<{ n: bigint }>`SELECT count(*) AS n FROM ledger_transfers`)
      const [before] = yield* count

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
      const [after] = yield* count
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
      const sql = yield* SqlClient.SqlClient
      // One owner holding the five accounts, paying from all of them at once (each session is its
      // own caller, so the owner's calls share its session), and four other callers paying into them.
      const owner = yield* caller()
      const sessions = [owner, owner, owner, owner]
      const events = yield* collect(owner, `${L}.on_transfer`)
      const accounts = yield* Effect.forEach([0, 1, 2, 3, 4], () => funded(owner, 50))
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
              const r = result.args[0] as { from_balance: number }
              assert.isAtLeast(r.from_balance, 0)
            },
            onFailure: (error) => error.error === `${L}.error.insufficient_funds` ? refused++ : other.push(error.error)
          })
        )
      }, { concurrency: 40, discard: true })
      assert.deepStrictEqual(other, [], "only insufficient_funds may fail: no deadlock or serialization error")
      assert.strictEqual(committed + refused, 400)
      assert.isAbove(committed, 100)
      // The superuser sees every row; the service's role sees none outside a caller's call.
      const balances = yield* inTestDatabaseAsSuperuser((su) => su<{ balance: bigint }>`SELECT balance FROM ledger_accounts WHERE id IN ${su.in(ids)}`)
      assert.strictEqual(balances.reduce((sum, row) => sum + row.balance, 0n), 250n)
      for (const row of balances) assert.isTrue(row.balance >= 0n)
      const [stored] = yield* inTestDatabaseAsSuperuser((su) =>
        su<{ n: bigint }>`SELECT count(*) AS n FROM ledger_transfers WHERE from_account IN ${su.in(ids)}`
      )
      assert.strictEqual(Number(stored!.n), committed)
      // a barrier: one more transfer, committed after all of them, is the last event; before it, one
      // event per commit and no more
      const [rich] = yield* inTestDatabaseAsSuperuser((su) =>
        su<{ id: bigint }>`SELECT id FROM ledger_accounts WHERE id IN ${su.in(ids)} AND balance >= 1 LIMIT 1`
      )
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
      assert.deepStrictEqual(recorded.map((r) => [r.migration_id, r.name]), [
        [1, "accounts"],
        [2, "transfers"],
        [3, "notify_balance"],
        [4, "owner_rls"],
        [5, "outbox_balance"]
      ])
      const again = yield* Migrations.run("ledger", Migrations.fromDirectory(new URL("../../../src/procedures/ledger/migrations/", import.meta.url)))
      assert.deepStrictEqual(again, [])
    }))

  it.effect("a transfer rolled back at COMMIT publishes nothing; one aborted by 40001 is retried and published once", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const session = yield* caller()
      const events = yield* collect(session, `${L}.on_transfer`)
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
      const a = yield* funded(session, 100)
      const b = yield* funded(session, 100)

      const atCommit = yield* Effect.flip(callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 13 } }))
      // The check violation at COMMIT is mapped like the balance CHECK: nothing was transferred.
      assert.strictEqual(atCommit.error, `${L}.error.insufficient_funds`)
      assert.strictEqual(yield* balanceOf(session, a.id), 100)

      const retried = yield* callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 17 } })
      assert.deepStrictEqual({ ...(retried.args[0] as object), id: 0 }, { id: 0, from_balance: 83 })
      const [failures] = yield* sql<{ n: bigint }>`SELECT last_value AS n FROM test_serialization_failures`
      assert.strictEqual(failures!.n, 3n, "two aborted attempts, the third committed")
      const [stored] = yield* inTestDatabaseAsSuperuser((su) => su<{ n: bigint }>`SELECT count(*) AS n FROM ledger_transfers WHERE from_account = ${a.id}`)
      assert.strictEqual(stored!.n, 1n)

      // the next transfer's event is the barrier: only the committed attempt published before it
      yield* callRaw(session, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 1 } })
      yield* eventually(() => events.length >= 2)
      assert.deepStrictEqual(events.map((e) => e["amount"]), [17, 1])
    }))
})
