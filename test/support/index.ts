/**
 * The integration harness (used by test/integration and test/browser).
 *
 * Real parts only: the run's ONE embedded PostgreSQL (started by `globalSetup.ts`, connection info
 * via vitest's `inject("wampgresPostgres")`), the embedded router on a free port, the component's
 * procedure groups on a real `WampSession`, and autobahn clients.
 *
 * API (all Effect-scoped; use with `layer(...)` / `it.live` from `@effect/vitest`, NOT the TestClock:
 * `layer(L, { excludeTestServices: true })`):
 *
 * - `TestDatabase.layer`: a fresh database and its owner role (same unique name, not a superuser, as
 *   the service's role) for one test file, dropped at the end; provides `TestDatabase` (name, `url`
 *   as the superuser, `target` as the owner), `PgClient` and `SqlClient` (the project's
 *   `Database.layer` as the owner, pool 1..4, multiplex on).
 * - `TestRouter.layer(options?)`: the embedded router with `.crossbar/config.json` (or `configFile`)
 *   on a free port; provides `Router` (`url` is the ws:// URL, `listening[0].port` the HTTP port).
 * - `componentLayer(groups)`: a `WampSession` joined to the `Router` plus the given procedure group
 *   layers (e.g. `NowGroup.layer`), i.e. the service's component; needs `Router` and the groups'
 *   services (`SqlClient`...). Provides `WampSession`.
 * - `clientSession(url, options?)`: an autobahn client session joined to realm1, closed with the scope.
 * - `callRaw(session, uri, payload?, options?)`: `session.call` as an Effect giving `{ args, kwargs }`
 *   or failing with `WampError` (uri, args, kwargs).
 * - `clientWamp(url)`: a `WampSession` layer used as a client (typed `Client.call(procedure, input)`).
 * - `postgresInfo()`: the shared PostgreSQL's host, port, user, password, dataDir, socketDir.
 * - `asSuperuser(f, database?)`, `inTestDatabaseAsSuperuser(f)`: statements as the superuser (no
 *   row-level security), on `postgres` or the test file's database.
 * - `superuserUrl(database?)`: a postgres:// URL for the shared PostgreSQL as its superuser.
 */
import autobahn from "autobahn"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Crypto from "node:crypto"
import * as Path from "node:path"
import { inject } from "vitest"
import * as Database from "../../src/layers/Database.js"
import * as ServiceRole from "../../src/layers/ServiceRole.js"
import type { DatabaseTarget } from "../../src/layers/DatabaseConfig.js"
import * as Credentials from "../../src/layers/Credentials.js"
import * as EmbeddedRouter from "../../src/layers/EmbeddedRouter.js"
import { defaults, type Payload, WampError, wampError, WampSession, type WampSessionConfig } from "../../src/layers/WampSession.js"
import { Router } from "../../src/router/index.js"
import type { PostgresInfo } from "./postgres.js"

export type { PostgresInfo } from "./postgres.js"

/** The repository root (for `.crossbar/config.json`, `src/main.ts`). */
export const repoRoot = Path.resolve(import.meta.dirname, "..", "..")

/** The shared PostgreSQL of this test run. */
export const postgresInfo = (): PostgresInfo => inject("wampgresPostgres")

/** The shared cluster's own URL (`EmbeddedPostgres.url`), for `database`. */
export const superuserUrl = (database = "postgres"): string => {
  const url = new URL(postgresInfo().url)
  url.pathname = `/${encodeURIComponent(database)}`
  return url.toString()
}

/** Runs statements as the superuser on the `postgres` database (CREATE/DROP DATABASE, pg_terminate_backend...). */
export const asSuperuser = <A>(
  f: (sql: PgClient.PgClient) => Effect.Effect<A, unknown>,
  database = "postgres"
): Effect.Effect<A, unknown> =>
  Effect.scoped(
    Effect.flatMap(PgClient.make({ url: Redacted.make(superuserUrl(database)), maxConnections: 1 }), f)
  ).pipe(Effect.provide(Reactivity.layer))

/** Runs statements as the superuser in the test file's database: sees every row, whatever its policies. */
export const inTestDatabaseAsSuperuser = <A>(
  f: (sql: PgClient.PgClient) => Effect.Effect<A, unknown>
): Effect.Effect<A, unknown, TestDatabase> => Effect.flatMap(Effect.service(TestDatabase), (db) => asSuperuser(f, db.name))

export class TestDatabase extends Context.Service<TestDatabase, {
  readonly name: string
  readonly url: string
  readonly target: DatabaseTarget
}>()("wampgres/test/TestDatabase") {
  /** A fresh database for this test file, with the project's pool on it; dropped at the end. */
  static readonly layer: Layer.Layer<TestDatabase | PgClient.PgClient | SqlClient.SqlClient, unknown> = Layer.unwrap(
    Effect.sync(() => {
      const pg = postgresInfo()
      const name = `test_${Crypto.randomBytes(6).toString("hex")}`
      const password = ServiceRole.randomPassword()
      // As the service connects to its embedded PostgreSQL: through the Unix socket when there is
      // one, as a role of its own that is no superuser and owns the database.
      const target: DatabaseTarget = {
        _tag: "Fields",
        host: pg.socketDir ?? pg.host,
        port: pg.port,
        database: name,
        username: name,
        password: Redacted.make(password)
      }
      const Created = Layer.effect(
        TestDatabase,
        Effect.acquireRelease(
          Effect.as(
            asSuperuser((sql) => ServiceRole.ensure(sql, { role: name, password, database: name })),
            TestDatabase.of({ name, url: superuserUrl(name), target })
          ),
          () =>
            Effect.ignore(asSuperuser((sql) =>
              Effect.andThen(
                sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
                sql.unsafe(`DROP ROLE IF EXISTS "${name}"`)
              )
            ))
        )
      )
      return Database.layer(target, {
        min: 1,
        max: 4,
        connectTimeout: Duration.seconds(5),
        startupTimeout: Duration.seconds(10),
        healthQuery: "SELECT 1",
        multiplex: true,
        applicationName: `wampgres-${name}`
      }).pipe(Layer.provideMerge(Created))
    })
  )
}

export interface TestRouterOptions {
  readonly configFile?: string
  readonly port?: number
}

/**
 * The component's credentials in tests: cryptosign with a fixed test key, which the project's
 * configuration admits as the backend principal (WAMPGRES_COMPONENT_PUBKEY, as `src/main.ts` sets it).
 */
const testSeed = new Uint8Array(Crypto.createHash("sha256").update("wampgres test component").digest())
export const testCredentials: Credentials.ComponentCredentials = {
  method: "cryptosign",
  authid: "wampgres",
  key: { publicKey: Credentials.publicKeyOf(testSeed), seed: Redacted.make(testSeed) }
}

export const TestRouter = {
  /** The embedded router with the project's configuration on a free port. */
  layer: (options: TestRouterOptions = {}) =>
    EmbeddedRouter.layer({
      configFile: options.configFile ?? Path.join(repoRoot, ".crossbar", "config.json"),
      port: options.port ?? 0,
      env: { ...process.env, WAMPGRES_COMPONENT_PUBKEY: testCredentials.method === "cryptosign" ? testCredentials.key.publicKey : "" }
    })
}

/** Session settings for tests: quick reconnects, short drain. */
export const testSessionSettings = (url: string, overrides: Partial<WampSessionConfig> = {}): WampSessionConfig =>
  defaults({
    url,
    joinTimeout: Duration.seconds(10),
    requestTimeout: Duration.seconds(5),
    drainTimeout: Duration.seconds(2),
    maxRetryDelay: Duration.millis(500),
    credentials: testCredentials,
    ...overrides
  })

/** The component: a WampSession joined to the Router, with the given procedure groups registered. */
export const componentLayer = <E, R>(
  groups: Layer.Layer<never, E, R>,
  overrides: Partial<WampSessionConfig> = {}
): Layer.Layer<WampSession, E | WampError, Router | Exclude<R, WampSession>> =>
  groups.pipe(
    Layer.provideMerge(
      Layer.unwrap(Effect.map(Router, (router) => WampSession.layer(testSessionSettings(router.url, overrides))))
    )
  )

/** A WampSession used as a client (for `Client.call`), against `url`. */
export const clientWamp = (url: string, overrides: Partial<WampSessionConfig> = {}) =>
  WampSession.layer(testSessionSettings(url, overrides))

/** An autobahn client session joined to `realm` at `url`; leaves when the scope closes. */
export const clientSession = (
  url: string,
  options: {
    readonly realm?: string
    readonly serializer?: "json" | "msgpack"
    /** Authenticate as the component (the backend role, which may use the meta API); default: anonymous. */
    readonly asComponent?: boolean
  } = {}
): Effect.Effect<autobahn.Session, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ connection: autobahn.Connection; session: autobahn.Session }, Error>((resume) => {
      const Msgpack = autobahn.serializer.MsgpackSerializer
      const connection = new autobahn.Connection({
        url,
        realm: options.realm ?? "realm1",
        use_es6_promises: true,
        max_retries: 0,
        retry_if_unreachable: false,
        ...(options.asComponent === true ? Credentials.connectionOptions(testCredentials) : {}),
        ...(options.serializer === "msgpack" && Msgpack !== undefined ? { serializers: [new Msgpack()] } : {})
      })
      connection.onopen = (session) => resume(Effect.succeed({ connection, session }))
      connection.onclose = (reason) => {
        resume(Effect.fail(new Error(`autobahn client could not join: ${reason}`)))
        return true
      }
      connection.open()
    }).pipe(Effect.timeout(Duration.seconds(10))),
    ({ connection }) =>
      Effect.sync(() => {
        try {
          connection.close()
        } catch {
          // already closed
        }
      })
  ).pipe(Effect.map(({ session }) => session), Effect.mapError((e) => (e instanceof Error ? e : new Error(String(e)))))

/** `session.call` as an Effect, with autobahn's result shapes normalised to `{ args, kwargs }`. */
export const callRaw = (
  session: autobahn.Session,
  uri: string,
  payload: Partial<Payload> = {},
  options?: Record<string, unknown>
): Effect.Effect<Payload, WampError> =>
  Effect.tryPromise({
    try: () => session.call(uri, [...(payload.args ?? [])], { ...payload.kwargs }, options),
    catch: (error) =>
      error instanceof autobahn.Error
        ? new WampError({
          error: error.error,
          args: error.args,
          kwargs: error.kwargs,
          message: typeof error.args[0] === "string" ? error.args[0] : error.error
        })
        : wampError("test.error.client", String(error))
  }).pipe(
    Effect.map((value): Payload =>
      value instanceof autobahn.Result
        ? { args: value.args, kwargs: value.kwargs }
        : value === null || value === undefined
        ? { args: [], kwargs: {} }
        : { args: [value], kwargs: {} }
    )
  )
