/**
 * The caller's identity inside PostgreSQL, end to end: callers with different authids (two `user`
 * sessions and an `anonymous` one, each with its own random authid) call through the real router
 * into the component, which works on the real PostgreSQL as a role that is no superuser.
 *
 * - the ledger's row-level security: each caller sees and moves only its own accounts, history and
 *   events; another owner's account answers exactly as an account that does not exist;
 * - a handler that forgets its WHERE still sees only its caller's rows;
 * - the transaction-local settings and the mapped role never survive into another call, under load,
 *   with multiplexing on and a pool smaller than the calls in flight;
 * - an authrole the group does not map is refused before any statement.
 */
import { assert, layer } from "@effect/vitest"
import type autobahn from "autobahn"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as Crypto from "node:crypto"
import * as Group from "../../../src/procedures/Group.js"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import * as Procedure from "../../../src/procedures/Procedure.js"
import { asSuperuser, callRaw, componentLayer, TestDatabase, TestRouter } from "../../support/index.js"
import { authidOf, balanceOf, caller, callersRouterConfig, collect, eventually, funded, L, open } from "./callers.js"

/** PostgreSQL roles the mapped group switches to; cluster-wide, so unique per run. */
const suffix = Crypto.randomBytes(4).toString("hex")
const userRole = `test_user_${suffix}`
const adminRole = `test_admin_${suffix}`

const Whoami = Schema.Struct({
  authid: Schema.NullOr(Schema.String),
  authrole: Schema.NullOr(Schema.String),
  session: Schema.NullOr(Schema.String),
  role: Schema.String
})
type Whoami = typeof Whoami.Type

const whoamiQuery = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<Whoami>`SELECT nullif(current_setting('wampgres.authid', true), '') AS authid,
                       nullif(current_setting('wampgres.authrole', true), '') AS authrole,
                       nullif(current_setting('wampgres.session', true), '') AS session,
                       current_user AS role`,
    (rows) => rows[0]!
  )

/** As the caller, in a transaction: the settings and role as PostgreSQL sees them. */
const whoami = Procedure.make("test.rls.whoami", {
  result: Whoami,
  transactional: true,
  asCaller: true,
  handler: () => Effect.flatMap(SqlClient.SqlClient, whoamiQuery)
})

/** Not as the caller, outside any transaction: what a call sees when nobody set anything. */
const plain = Procedure.make("test.rls.plain", {
  result: Whoami,
  handler: () => Effect.flatMap(SqlClient.SqlClient, whoamiQuery)
})

/** A handler that forgets its WHERE: every account and transfer it can see. */
const everything = Procedure.make("test.rls.everything", {
  result: Schema.Struct({ owners: Schema.Array(Schema.String), transfers: Schema.Int }),
  transactional: true,
  asCaller: true,
  handler: () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const accounts = yield* sql<{ owner: string }>`SELECT owner FROM ledger_accounts`
      const [transfers] = yield* sql<{ n: string }>`SELECT count(*)::text AS n FROM ledger_transfers`
      return { owners: accounts.map((a) => a.owner), transfers: Number(transfers!.n) }
    })
})

/** Handler runs of the mapped procedure: a refused call never reaches it. */
let mappedRuns = 0
const whoamiMapped = Procedure.make("test.rls.whoami_mapped", {
  result: Whoami,
  transactional: true,
  asCaller: true,
  handler: () => Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.andThen(Effect.sync(() => mappedRuns++), whoamiQuery(sql)))
})

const Probes = Layer.mergeAll(
  Group.make("probes", [whoami, plain, everything]).layer,
  Group.make("mapped", [whoamiMapped], { roles: { user: userRole, admin: adminRole } }).layer
)

/** The roles exist (and the service's role may switch to them) before anything calls. */
const MappedRoles = Layer.effectDiscard(
  Effect.gen(function*() {
    const db = yield* TestDatabase
    yield* Effect.acquireRelease(
      asSuperuser((sql) =>
        Effect.forEach([userRole, adminRole], (role) =>
          Effect.andThen(sql.unsafe(`CREATE ROLE "${role}" NOLOGIN`), sql.unsafe(`GRANT "${role}" TO "${db.name}"`)))
      ),
      () => Effect.ignore(asSuperuser((sql) => Effect.forEach([userRole, adminRole], (role) => sql.unsafe(`DROP ROLE IF EXISTS "${role}"`))))
    )
  })
)

const Env = componentLayer(Layer.mergeAll(Ledger.layer, Probes)).pipe(
  Layer.provideMerge(TestRouter.layer({ configFile: callersRouterConfig })),
  Layer.provideMerge(MappedRoles),
  Layer.provideMerge(TestDatabase.layer)
)

const call = <A>(session: autobahn.Session, uri: string, payload: { args?: Array<unknown>; kwargs?: Record<string, unknown> } = {}) =>
  Effect.map(callRaw(session, uri, payload), (result) => result.args[0] as A)

layer(Env, { excludeTestServices: true, timeout: "120 seconds" })("the caller's identity in PostgreSQL", (it) => {
  it.effect("the service's role is no superuser (so row-level security binds it)", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{ rolsuper: boolean }>`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`
      assert.isFalse(row!.rolsuper)
    }))

  it.effect("accounts: another owner's account is no_such_account, exactly like one that does not exist", () =>
    Effect.gen(function*() {
      const ada = yield* caller("user")
      const bob = yield* caller("user")
      const anon = yield* caller("anonymous")
      const account = yield* funded(ada, 100)
      assert.strictEqual(account.owner, yield* authidOf(ada))
      assert.strictEqual(yield* balanceOf(ada, account.id), 100)
      const missing = 987654321
      for (const other of [bob, anon]) {
        const hidden = yield* Effect.flip(callRaw(other, `${L}.get_account`, { args: [account.id] }))
        const absent = yield* Effect.flip(callRaw(other, `${L}.get_account`, { args: [missing] }))
        assert.strictEqual(hidden.error, `${L}.error.no_such_account`)
        assert.deepStrictEqual(hidden.kwargs, { id: account.id })
        assert.deepStrictEqual(hidden.args, [`no account ${account.id}`])
        assert.strictEqual(absent.error, hidden.error)
        const history = yield* Effect.flip(callRaw(other, `${L}.history`, { kwargs: { account: account.id } }))
        assert.strictEqual(history.error, `${L}.error.no_such_account`)
        // Paying from it: refused as if it did not exist, nothing moves.
        const own = yield* open(other)
        const steal = yield* Effect.flip(callRaw(other, `${L}.transfer`, { kwargs: { from: account.id, to: own.id, amount: 1 } }))
        assert.strictEqual(steal.error, `${L}.error.no_such_account`)
        assert.deepStrictEqual(steal.kwargs, { id: account.id })
        assert.strictEqual(yield* balanceOf(other, own.id), 0)
      }
      assert.strictEqual(yield* balanceOf(ada, account.id), 100)
    }))

  it.effect("history: a transfer is in the history of both parties' accounts, and of no one else's", () =>
    Effect.gen(function*() {
      const ada = yield* caller("user")
      const bob = yield* caller("user")
      const anon = yield* caller("anonymous")
      const a = yield* funded(ada, 50)
      const b = yield* open(bob)
      const c = yield* open(anon)
      yield* callRaw(ada, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 20 } })
      const adaSees = yield* call<{ count: number }>(ada, `${L}.history`, { kwargs: { account: a.id } })
      const bobSees = yield* call<{ count: number; transfers: Array<{ from: number }> }>(bob, `${L}.history`, { kwargs: { account: b.id } })
      const anonSees = yield* call<{ count: number }>(anon, `${L}.history`, { kwargs: { account: c.id } })
      assert.strictEqual(adaSees.count, 1)
      assert.strictEqual(bobSees.count, 1)
      assert.strictEqual(bobSees.transfers[0]!.from, a.id)
      assert.strictEqual(anonSees.count, 0)
      assert.strictEqual(yield* balanceOf(bob, b.id), 20)
    }))

  it.effect("events: on_account_change reaches the account's owner only; on_transfer the payer only", () =>
    Effect.gen(function*() {
      const ada = yield* caller("user")
      const bob = yield* caller("user")
      const anon = yield* caller("anonymous")
      const changes = {
        ada: yield* collect(ada, `${L}.on_account_change`),
        bob: yield* collect(bob, `${L}.on_account_change`),
        anon: yield* collect(anon, `${L}.on_account_change`)
      }
      const transfers = {
        ada: yield* collect(ada, `${L}.on_transfer`),
        bob: yield* collect(bob, `${L}.on_transfer`),
        anon: yield* collect(anon, `${L}.on_transfer`)
      }
      const a = yield* funded(ada, 30)
      const b = yield* open(bob)
      yield* callRaw(ada, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 10 } })
      // ada: opened (0), minted (30), paid (20); bob: opened (0), credited (10).
      yield* eventually(() => changes.ada.length >= 3 && changes.bob.length >= 2 && transfers.ada.length >= 1)
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(changes.ada, [{ id: a.id, balance: 0 }, { id: a.id, balance: 30 }, { id: a.id, balance: 20 }])
      assert.deepStrictEqual(changes.bob, [{ id: b.id, balance: 0 }, { id: b.id, balance: 10 }])
      assert.deepStrictEqual(changes.anon, [])
      assert.strictEqual(transfers.ada.length, 1)
      assert.deepStrictEqual(transfers.bob, [])
      assert.deepStrictEqual(transfers.anon, [])
    }))

  it.effect("a handler that forgets its WHERE still sees only its caller's rows", () =>
    Effect.gen(function*() {
      const ada = yield* caller("user")
      const bob = yield* caller("user")
      const anon = yield* caller("anonymous")
      const a = yield* funded(ada, 10)
      yield* open(ada)
      const b = yield* open(bob)
      yield* callRaw(ada, `${L}.transfer`, { kwargs: { from: a.id, to: b.id, amount: 1 } })
      const adaId = yield* authidOf(ada)
      const bobId = yield* authidOf(bob)
      const adaSees = yield* call<{ owners: Array<string>; transfers: number }>(ada, "test.rls.everything")
      const bobSees = yield* call<{ owners: Array<string>; transfers: number }>(bob, "test.rls.everything")
      const anonSees = yield* call<{ owners: Array<string>; transfers: number }>(anon, "test.rls.everything")
      assert.deepStrictEqual(adaSees, { owners: [adaId, adaId], transfers: 1 })
      assert.deepStrictEqual(bobSees, { owners: [bobId], transfers: 1 })
      assert.deepStrictEqual(anonSees, { owners: [], transfers: 0 })
      // Outside a caller's call the service's role sees no account at all (FORCE ROW LEVEL SECURITY).
      const sql = yield* SqlClient.SqlClient
      const [count] = yield* sql<{ n: string }>`SELECT count(*)::text AS n FROM ledger_accounts`
      assert.strictEqual(count!.n, "0")
    }))

  it.effect("an authrole the group does not map is refused with not_authorized before any statement", () =>
    Effect.gen(function*() {
      const user = yield* caller("user")
      const admin = yield* caller("admin")
      const anon = yield* caller("anonymous")
      const before = mappedRuns
      const asUser = yield* call<Whoami>(user, "test.rls.whoami_mapped")
      const asAdmin = yield* call<Whoami>(admin, "test.rls.whoami_mapped")
      assert.deepStrictEqual(
        { ...asUser, session: null },
        { authid: yield* authidOf(user), authrole: "user", session: null, role: userRole }
      )
      assert.strictEqual(asUser.session, String(user.id))
      assert.strictEqual(asAdmin.role, adminRole)
      assert.strictEqual(mappedRuns, before + 2)
      const refused = yield* Effect.flip(callRaw(anon, "test.rls.whoami_mapped"))
      assert.strictEqual(refused.error, "wamp.error.not_authorized")
      assert.include(String(refused.args[0]), `"anonymous"`)
      assert.strictEqual(mappedRuns, before + 2, "the handler did not run")
    }))

  it.effect("under load, with multiplexing on: no setting or role survives into another caller's call", () =>
    Effect.gen(function*() {
      const db = yield* TestDatabase
      const sessions = [yield* caller("user"), yield* caller("user"), yield* caller("admin"), yield* caller("anonymous")]
      const expected = yield* Effect.forEach(sessions, (session) =>
        Effect.map(authidOf(session), (authid) => ({ authid, session: String(session.id) })))
      const roleOf = (i: number) => (i === 2 ? "admin" : i === 3 ? "anonymous" : "user")
      const mappedRoleOf = (i: number) => (i === 2 ? adminRole : userRole)
      const problems: Array<string> = []
      let checked = 0
      // 1200 calls, 48 in flight over a pool of at most 4 connections: settings-bearing transactions,
      // role-switching transactions and plain multiplexed statements interleave on the same backends.
      yield* Effect.forEach(Array.from({ length: 1200 }, (_, n) => n), (n) => {
        const i = n % sessions.length
        const kind = Math.floor(n / sessions.length) % 3
        const uri = kind === 0 ? "test.rls.whoami" : kind === 1 ? "test.rls.plain" : "test.rls.whoami_mapped"
        return callRaw(sessions[i]!, uri).pipe(
          Effect.match({
            onFailure: (error) => {
              if (!(kind === 2 && i === 3 && error.error === "wamp.error.not_authorized")) problems.push(`${n} ${uri}: ${error.error}`)
            },
            onSuccess: (result) => {
              checked++
              const got = result.args[0] as Whoami
              const want: Whoami = kind === 1
                ? { authid: null, authrole: null, session: null, role: db.name }
                : {
                  authid: expected[i]!.authid,
                  authrole: roleOf(i),
                  session: expected[i]!.session,
                  role: kind === 2 ? mappedRoleOf(i) : db.name
                }
              if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${n} ${uri}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`)
            }
          })
        )
      }, { concurrency: 48, discard: true })
      assert.deepStrictEqual(problems.slice(0, 5), [])
      assert.strictEqual(checked, 1200 - 100, "every call answered except the anonymous caller's mapped ones")
      // The pool really shared backends between callers.
      const sql = yield* SqlClient.SqlClient
      const [backends] = yield* sql<{ n: string }>`SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = current_database()`
      assert.isAtMost(Number(backends!.n), 4 + 2)
    }))
})

