/**
 * Where the database is and how the pool behaves: the types `Database.layer` takes.
 *
 * The connection comes from `DATABASE_URL`, or else from libpq's variables (`PGHOST`, `PGPORT`,
 * `PGDATABASE`, `PGUSER`, `PGPASSWORD`) with libpq's defaults; pool settings are adbapi's
 * (`cp_min`, `cp_max`, `cp_good_sql`). Variables and defaults are declared in `src/Settings.ts`.
 */
import type * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"

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
  /**
   * Connected through a pooler in transaction mode (PgBouncer `pool_mode = transaction`): no named
   * prepared statements, no pipelining of many callers' statements on one connection.
   */
  readonly transactionPooler?: boolean
}

export interface DatabaseConfig {
  readonly target: DatabaseTarget
  readonly pool: PoolSettings
}

/**
 * The settings are declared in `src/Settings.ts` (variables, defaults, help); re-exported here for
 * layers that read them from the environment themselves (`Database.layerConfig`).
 */
export { externalTarget, poolSettings } from "../Settings.js"

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
