/**
 * The embedded PostgreSQL, least privilege: it listens on a Unix socket in its data directory only
 * (TCP on 127.0.0.1 only when asked for), its superuser's password is random per data directory and
 * kept in a file only its owner reads (the old published password no longer logs in), and the
 * service connects as a role that is no superuser and owns the application's database.
 * The run's shared cluster is one started by the `EmbeddedPostgres` layer (see globalSetup.ts); the
 * TCP case starts a second one.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { credentialsFileFor, EmbeddedPostgres, unixSocketDirFor } from "../../src/layers/EmbeddedPostgres.js"
import { postgresInfo } from "../support/index.js"

const query = <A extends object>(options: PgClient.PgClientConfig, text: string) =>
  Effect.scoped(Effect.flatMap(PgClient.make({ ...options, maxConnections: 1 }), (sql) => sql.unsafe<A>(text))).pipe(
    Effect.provide(Reactivity.layer)
  )

/** The server address of a connection: null over a Unix socket. */
const serverAddress = (options: PgClient.PgClientConfig) =>
  Effect.map(query<{ addr: string | null }>(options, "SELECT host(inet_server_addr()) AS addr"), (rows) => rows[0]?.addr ?? null)

describe("embedded PostgreSQL", () => {
  it.live("listens on a Unix socket in its data directory only, not on TCP", () =>
    Effect.gen(function*() {
      const pg = postgresInfo()
      assert.strictEqual(pg.socketDir, pg.dataDir)
      assert.isTrue(Fs.statSync(Path.join(pg.dataDir, `.s.PGSQL.${pg.port}`)).isSocket())
      const credentials = { port: pg.port, username: pg.user, password: Redacted.make(pg.password), database: "postgres" }
      assert.isNull(yield* serverAddress({ ...credentials, host: pg.dataDir }))
      const tcp = yield* Effect.flip(serverAddress({ ...credentials, host: "127.0.0.1", connectTimeout: "2 seconds" }))
      assert.match(String(tcp.reason.cause), /ECONNREFUSED/)
      // The URL the layer gives tools: the socket directory in ?host= (libpq's convention).
      assert.strictEqual(new URL(pg.url).searchParams.get("host"), pg.dataDir)
      assert.isNull(yield* serverAddress({ url: Redacted.make(pg.url) }))
    }))

  it.live("the superuser's password is random, in a file only its owner reads; the old fixed one does not log in", () =>
    Effect.gen(function*() {
      const pg = postgresInfo()
      const file = credentialsFileFor(pg.dataDir)
      assert.strictEqual(Fs.statSync(file).mode & 0o777, 0o600)
      const stored = JSON.parse(Fs.readFileSync(file, "utf8")) as { superuser: string; service: string }
      assert.strictEqual(stored.superuser, pg.password)
      assert.isAtLeast(pg.password.length, 40)
      assert.notStrictEqual(stored.service, stored.superuser)
      const old = yield* Effect.flip(
        query({ host: pg.dataDir, port: pg.port, username: pg.user, password: Redacted.make("password"), database: "postgres" }, "SELECT 1")
      )
      assert.match(String(old.reason.cause ?? old.message), /password authentication failed/)
    }))

  it.live("the service's role is no superuser and owns its database; with tcp: true it also listens on 127.0.0.1", () =>
    Effect.gen(function*() {
      const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "wampgres-embedded-"))
      Fs.chmodSync(root, 0o755)
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(root, { recursive: true, force: true })))
      const pg = yield* Effect.map(
        Layer.build(EmbeddedPostgres.layer({ dataDir: Path.join(root, "postgres"), tcp: true })),
        (context) => Context.get(context, EmbeddedPostgres)
      )
      assert.isTrue(pg.tcp)
      assert.strictEqual(pg.target._tag, "Fields")
      if (pg.target._tag !== "Fields") return
      assert.strictEqual(pg.target.username, "wampgres")
      assert.strictEqual(pg.target.database, "wampgres")
      const service = { ...pg.target, username: pg.target.username, password: pg.target.password }
      const [role] = yield* query<{ super: boolean; createrole: boolean; createdb: boolean; bypass: boolean; owner: string }>(
        service,
        `SELECT rolsuper AS super, rolcreaterole AS createrole, rolcreatedb AS createdb, rolbypassrls AS bypass,
                (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) AS owner
         FROM pg_roles WHERE rolname = current_user`
      )
      assert.deepStrictEqual(role, { super: false, createrole: false, createdb: false, bypass: false, owner: "wampgres" })
      // It may create the application's tables, and nothing a superuser may.
      yield* query(service, "CREATE TABLE t (id int)")
      const denied = yield* Effect.flip(query(service, "COPY t FROM PROGRAM 'true'"))
      assert.match(String(denied.reason.cause ?? denied.message), /permission denied|must be superuser|pg_execute_server_program/i)
      assert.strictEqual(yield* serverAddress({ ...service, host: "127.0.0.1" }), "127.0.0.1")
      assert.isNull(yield* serverAddress(service))
    }).pipe(Effect.scoped), 120_000)

  it("falls back to TCP only when the socket path would not fit the kernel's 107 bytes", () => {
    assert.strictEqual(unixSocketDirFor("/srv/app/.data/postgres"), "/srv/app/.data/postgres")
    assert.isUndefined(unixSocketDirFor(`/srv/${"x".repeat(100)}/postgres`))
  })
})
