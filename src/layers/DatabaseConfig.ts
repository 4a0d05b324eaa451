/**
 * Where the database is and how the pool behaves, read from the environment with `Config`.
 *
 * The connection comes from `DATABASE_URL`, or else from libpq's variables (`PGHOST`, `PGPORT`,
 * `PGDATABASE`, `PGUSER`, `PGPASSWORD`) with libpq's defaults (port 5432, user = the OS user,
 * database = the user). Pool settings are adbapi's: `DB_POOL_MIN` (`cp_min`, 3), `DB_POOL_MAX`
 * (`cp_max`, 10), `DB_HEALTH_QUERY` (`cp_good_sql`, `SELECT 1`).
 */
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Os from "node:os"

/** Where to connect: a URL, or libpq-style fields. */
export type DatabaseTarget =
  | { readonly _tag: "Url"; readonly url: Redacted.Redacted<string> }
  | {
    readonly _tag: "Fields"
    readonly host: string
    readonly port: number
    readonly database: string
    readonly username: string
    readonly password: Redacted.Redacted<string> | undefined
  }

/** Pool and start-up settings. */
export interface PoolSettings {
  /** Connections kept open (adbapi `cp_min`). */
  readonly min: number
  /** Connections at most (adbapi `cp_max`). */
  readonly max: number
  /** Time allowed for one physical connection to open and authenticate. */
  readonly connectTimeout: Duration.Duration
  /** Time allowed at start-up for the health query to succeed (the database may still be booting). */
  readonly startupTimeout: Duration.Duration
  /** Health query proving the pool (adbapi `cp_good_sql`). */
  readonly healthQuery: string
  /** Pipeline single statements from many fibers on shared connections. */
  readonly multiplex: boolean
  /** `application_name` shown in `pg_stat_activity`. */
  readonly applicationName: string
}

export interface DatabaseConfig {
  readonly target: DatabaseTarget
  readonly pool: PoolSettings
}

const nonNegativeInt = (name: string) => Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), name)

/** Pool settings from `DB_*` variables, with adbapi's defaults. */
export const poolSettings: Config.Config<PoolSettings> = Config.all({
  min: nonNegativeInt("DB_POOL_MIN").pipe(Config.withDefault(3)),
  max: nonNegativeInt("DB_POOL_MAX").pipe(Config.withDefault(10)),
  connectTimeout: Config.Duration("DB_CONNECT_TIMEOUT").pipe(Config.withDefault("5 seconds" as Duration.Input)),
  startupTimeout: Config.Duration("DB_STARTUP_TIMEOUT").pipe(Config.withDefault("20 seconds" as Duration.Input)),
  healthQuery: Config.String("DB_HEALTH_QUERY").pipe(Config.withDefault("SELECT 1")),
  multiplex: Config.Boolean("DB_MULTIPLEX").pipe(Config.withDefault(true)),
  applicationName: Config.String("DB_APPLICATION_NAME").pipe(Config.withDefault("wampgres"))
}) as Config.Config<PoolSettings>

/**
 * The external database target, or `None` when neither `DATABASE_URL` nor `PGHOST` is set (then
 * `main.ts` starts an embedded PostgreSQL).
 */
export const externalTarget: Config.Config<Option.Option<DatabaseTarget>> = Config.all({
  url: Config.option(Config.Redacted("DATABASE_URL")),
  host: Config.option(Config.String("PGHOST")),
  port: Config.Port("PGPORT").pipe(Config.withDefault(5432)),
  database: Config.option(Config.String("PGDATABASE")),
  username: Config.option(Config.String("PGUSER")),
  password: Config.option(Config.Redacted("PGPASSWORD"))
}).pipe(
  Config.map(({ database, host, password, port, url, username }): Option.Option<DatabaseTarget> => {
    if (Option.isSome(url) && Redacted.value(url.value).length > 0) {
      return Option.some({ _tag: "Url", url: url.value })
    }
    if (Option.isNone(host) || host.value.length === 0) return Option.none()
    const user = Option.getOrElse(username, () => Os.userInfo().username)
    return Option.some({
      _tag: "Fields",
      host: host.value,
      port,
      database: Option.getOrElse(database, () => user),
      username: user,
      password: Option.getOrUndefined(password)
    })
  })
)

/** A printable description of a target, without its password. */
export const describeTarget = (target: DatabaseTarget): string => {
  if (target._tag === "Fields") {
    // A host that is a directory names a Unix socket (libpq's convention): show the socket's path.
    const server = target.host.startsWith("/") ? `${target.host}/.s.PGSQL.${target.port}` : `${target.host}:${target.port}`
    return `${target.username}@${server}/${target.database}`
  }
  try {
    const url = new URL(Redacted.value(target.url))
    url.password = ""
    return `${url.username ? `${url.username}@` : ""}${url.host}${url.pathname}`
  } catch {
    return "DATABASE_URL (unparsable)"
  }
}
