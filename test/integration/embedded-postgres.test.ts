/**
 * The embedded PostgreSQL's connections: the service reaches it through a Unix socket in its data
 * directory (cheaper per statement than TCP loopback), tools through TCP on 127.0.0.1 or the URL.
 * The run's shared cluster is one started by the `EmbeddedPostgres` layer (see globalSetup.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { unixSocketDirFor } from "../../src/layers/EmbeddedPostgres.js"
import { postgresInfo } from "../support/index.js"

/** The server address of a connection: null over a Unix socket. */
const serverAddress = (options: PgClient.PgClientConfig) =>
  Effect.scoped(Effect.flatMap(PgClient.make({ ...options, maxConnections: 1 }), (sql) =>
    sql<{ addr: string | null }>`SELECT host(inet_server_addr()) AS addr`)).pipe(
      Effect.map((rows) => rows[0]?.addr ?? null),
      Effect.provide(Reactivity.layer)
    )

describe("embedded PostgreSQL", () => {
  it.live("listens on a Unix socket in its data directory and on TCP 127.0.0.1", () =>
    Effect.gen(function*() {
      const pg = postgresInfo()
      assert.strictEqual(pg.socketDir, pg.dataDir)
      assert.isTrue(Fs.statSync(Path.join(pg.dataDir, `.s.PGSQL.${pg.port}`)).isSocket())
      const credentials = { port: pg.port, username: pg.user, password: Redacted.make(pg.password), database: "postgres" }
      assert.isNull(yield* serverAddress({ ...credentials, host: pg.dataDir }))
      assert.strictEqual(yield* serverAddress({ ...credentials, host: pg.host }), "127.0.0.1")
      // The URL the layer gives tools: TCP authority, socket directory in ?host= (libpq's convention).
      assert.strictEqual(new URL(pg.url).searchParams.get("host"), pg.dataDir)
      assert.isNull(yield* serverAddress({ url: Redacted.make(pg.url) }))
    }))

  it("falls back to TCP only when the socket path would not fit the kernel's 107 bytes", () => {
    assert.strictEqual(unixSocketDirFor("/srv/app/.data/postgres"), "/srv/app/.data/postgres")
    assert.isUndefined(unixSocketDirFor(`/srv/${"x".repeat(100)}/postgres`))
  })
})
