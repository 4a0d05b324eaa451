/**
 * The ledger through PgBouncer in transaction pooling mode (Debian's `pgbouncer`, installed by
 * .ci/run, started here): the pool connects to PgBouncer with `DB_TRANSACTION_POOLER` on (no named
 * prepared statements, no pipelining), LISTEN goes over the direct connection
 * (`DATABASE_DIRECT_URL`), the outbox relay's advisory lock is transaction-scoped. Accounts,
 * concurrent transfers, typed errors, idempotent retries, history and events all work through it,
 * as the test database's owner role (no superuser: row-level security applies) and with each
 * caller's identity set per transaction (transaction-local settings survive transaction pooling).
 */
import { assert, layer } from "@effect/vitest"
import type autobahn from "autobahn"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Database from "../../../src/layers/Database.js"
import { freePort } from "../../../src/layers/EmbeddedPostgres.js"
import * as Ledger from "../../../src/procedures/ledger/index.js"
import { Router } from "../../../src/router/index.js"
import { callRaw, clientSession, componentLayer, postgresInfo, TestDatabase, TestRouter } from "../../support/index.js"
import { callersRouterConfig, urlFor } from "./callers.js"

const L = "com.example.ledger"

/** The test database's owner role and its password (what the service connects as). */
const ownerOf = (db: TestDatabase["Service"]) => {
  if (db.target._tag !== "Fields") throw new Error("the test database's target has fields")
  return { user: db.target.username ?? db.name, password: Redacted.value(db.target.password ?? Redacted.make("")) }
}

/**
 * PgBouncer in transaction mode in front of the run's PostgreSQL (its Unix socket), for the lifetime
 * of the layer; clients log in as the test database's owner, which PgBouncer also uses for the server.
 */
class PgBouncer extends Context.Service<PgBouncer, { readonly port: number; readonly log: () => string }>()("wampgres/test/PgBouncer") {
  static readonly layer = Layer.effect(
    PgBouncer,
    Effect.gen(function*() {
      const pg = postgresInfo()
      const owner = ownerOf(yield* TestDatabase)
      const port = yield* Effect.promise(() => freePort())
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "wampgres-pgbouncer-"))),
        (d) => Effect.sync(() => Fs.rmSync(d, { recursive: true, force: true }))
      )
      Fs.chmodSync(dir, 0o777)
      Fs.writeFileSync(Path.join(dir, "users.txt"), `"${owner.user}" "${owner.password}"\n`)
      Fs.writeFileSync(
        Path.join(dir, "pgbouncer.ini"),
        [
          "[databases]",
          `* = host=${pg.socketDir ?? pg.host} port=${pg.port}`,
          "[pgbouncer]",
          "listen_addr = 127.0.0.1",
          `listen_port = ${port}`,
          "unix_socket_dir =",
          "auth_type = trust",
          `auth_file = ${dir}/users.txt`,
          "pool_mode = transaction",
          "max_client_conn = 200",
          "default_pool_size = 8",
          "ignore_startup_parameters = extra_float_digits,options,search_path",
          `logfile = ${dir}/pgbouncer.log`,
          `pidfile = ${dir}/pgbouncer.pid`,
          ""
        ].join("\n")
      )
      for (const file of ["users.txt", "pgbouncer.ini"]) Fs.chmodSync(Path.join(dir, file), 0o644)
      // PgBouncer refuses to run as root: as the `postgres` user then.
      const asUser = process.getuid?.() === 0 ? ["-u", "postgres"] : []
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => ChildProcess.spawn("/usr/sbin/pgbouncer", [...asUser, Path.join(dir, "pgbouncer.ini")], { stdio: "ignore" })),
        (c) =>
          Effect.promise(() =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null) return resolve()
              c.once("exit", () => resolve())
              c.kill("SIGTERM")
            })
          )
      )
      const accepting = () =>
        new Promise<boolean>((resolve) => {
          const socket = Net.connect(port, "127.0.0.1")
          socket.once("connect", () => (socket.destroy(), resolve(true)))
          socket.once("error", () => resolve(false))
        })
      const deadline = Date.now() + 10_000
      while (!(yield* Effect.promise(accepting))) {
        if (child.exitCode !== null || Date.now() > deadline) {
          return yield* Effect.die(new Error(`pgbouncer did not start (install Debian's pgbouncer; .ci/run does)`))
        }
        yield* Effect.sleep("50 millis")
      }
      const log = () => {
        try {
          return Fs.readFileSync(Path.join(dir, "pgbouncer.log"), "utf8")
        } catch {
          return ""
        }
      }
      return PgBouncer.of({ port, log })
    })
  )
}

/** The component's database: the pool through PgBouncer, LISTEN on a direct connection. */
const ThroughPgBouncer = Layer.unwrap(
  Effect.gen(function*() {
    const db = yield* TestDatabase
    const bouncer = yield* PgBouncer
    const owner = ownerOf(db)
    const pooled = `postgres://${encodeURIComponent(owner.user)}:${encodeURIComponent(owner.password)}@127.0.0.1:${bouncer.port}/${db.name}`
    return Database.layer({ _tag: "Url", url: Redacted.make(pooled) }, {
      min: 1,
      max: 6,
      connectTimeout: Duration.seconds(5),
      startupTimeout: Duration.seconds(10),
      healthQuery: "SELECT 1",
      multiplex: true,
      applicationName: "wampgres-pgbouncer-test",
      transactionPooler: true
    }, db.target)
  })
)

const Env = componentLayer(Ledger.layer).pipe(
  Layer.provideMerge(TestRouter.layer({ configFile: callersRouterConfig })),
  Layer.provideMerge(ThroughPgBouncer),
  Layer.provideMerge(PgBouncer.layer),
  Layer.provideMerge(TestDatabase.layer)
)

const collect = (session: autobahn.Session, topic: string) =>
  Effect.gen(function*() {
    const events: Array<{ seq: number; value: Record<string, unknown> }> = []
    yield* Effect.promise(() =>
      session.subscribe(topic, (args, kwargs) => void events.push({ seq: kwargs?.["_seq"] as number, value: args?.[0] as Record<string, unknown> }))
    )
    return events
  })

const eventually = (check: () => boolean, millis = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!check() && Date.now() < deadline) yield* Effect.sleep("25 millis")
    return check()
  })

layer(Env, { excludeTestServices: true, timeout: "90 seconds" })("the ledger through PgBouncer (transaction mode)", (it) => {
  it.effect("accounts, 200 concurrent transfers, typed errors, idempotent retries, history and events", () =>
    Effect.gen(function*() {
      const router = yield* Router
      const bouncer = yield* PgBouncer
      const db = yield* TestDatabase
      // one caller (its session pays and subscribes: on_transfer goes to the payer), an admin to mint
      const payer = yield* clientSession(urlFor(router, "user"))
      const admin = yield* clientSession(urlFor(router, "admin"))
      const stranger = yield* clientSession(urlFor(router, "user"))
      const transfers = yield* collect(payer, `${L}.on_transfer`)
      const open = Effect.map(callRaw(payer, `${L}.open_account`), (r) => r.args[0] as { id: number; owner: string })
      const ids: Array<number> = []
      for (let i = 0; i < 8; i++) {
        const { id } = yield* open
        yield* callRaw(admin, `${L}.mint`, { kwargs: { account: id, amount: 100 } })
        ids.push(id)
      }
      const got = yield* callRaw(payer, `${L}.get_account`, { args: [ids[0]!] })
      assert.deepStrictEqual((got.args[0] as { balance: number }).balance, 100)
      const hidden = yield* Effect.flip(callRaw(stranger, `${L}.get_account`, { args: [ids[0]!] }))
      assert.strictEqual(hidden.error, `${L}.error.no_such_account`, "another caller sees nothing through the pooler")

      const results = yield* Effect.all(
        Array.from({ length: 200 }, (_, i) =>
          Effect.result(callRaw(payer, `${L}.transfer`, {
            kwargs: { from: ids[i % 8]!, to: ids[(i + 3) % 8]!, amount: 1 + (i % 30) }
          }))),
        { concurrency: "unbounded" }
      )
      const ok = results.filter((r) => r._tag === "Success").length
      const refused = results.flatMap((r) => (r._tag === "Failure" ? [r.failure.error] : []))
      assert.isTrue(refused.every((uri) => uri === `${L}.error.insufficient_funds`), refused.join(","))
      const balances = yield* Effect.forEach(ids, (id) =>
        Effect.map(callRaw(payer, `${L}.get_account`, { args: [id] }), (r) => (r.args[0] as { balance: number }).balance))
      assert.strictEqual(balances.reduce((a, b) => a + b, 0), 800, "sum unchanged")
      assert.isTrue(yield* eventually(() => transfers.length >= ok), `${transfers.length}/${ok} events`)
      assert.deepStrictEqual(transfers.map((e) => e.seq), Array.from({ length: ok }, (_, i) => i + 1))

      const kwargs = { from: ids[0]!, to: ids[1]!, amount: 1, idempotency_key: "through-pgbouncer" }
      const first = yield* Effect.result(callRaw(payer, `${L}.transfer`, { kwargs }))
      const again = yield* Effect.result(callRaw(payer, `${L}.transfer`, { kwargs }))
      assert.deepStrictEqual(JSON.stringify(again), JSON.stringify(first))

      const history = yield* callRaw(payer, `${L}.history`, { kwargs: { account: ids[0]! } })
      assert.isAbove((history.args[0] as { count: number }).count, 0)

      assert.match(bouncer.log(), new RegExp(`db=${db.name}`), "the pool's connections went through PgBouncer")
      console.log(`through PgBouncer: ${ok} transfers committed, ${refused.length} refused, ${transfers.length} events in order`)
    }))
})
