/**
 * The service's PostgreSQL role: a login role that is not a superuser and owns the application's
 * database (and so, from PostgreSQL 15, its `public` schema, whose owner is `pg_database_owner`).
 * Migrations run as it, so it owns every table they create; row-level security with FORCE then
 * binds it too. A superuser only creates it (`ensure`), for the embedded PostgreSQL and the tests.
 *
 * With an external `DATABASE_URL`, create such a role yourself (README, "The database role");
 * `checkNotSuperuser` warns at start-up when the service connects as a superuser, which bypasses
 * every row-level security policy.
 */
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Crypto from "node:crypto"

export interface ServiceRole {
  readonly role: string
  readonly password: string
  readonly database: string
}

/** A random password (URL-safe, 32 bytes of entropy). */
export const randomPassword = (): string => Crypto.randomBytes(32).toString("base64url")

/** `"name"` with inner quotes doubled. */
export const quoteIdentifier = (name: string): string => `"${name.replaceAll("\"", "\"\"")}"`

/** `'text'` with inner quotes doubled (standard_conforming_strings, on since PostgreSQL 9.1). */
const quoteLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`

/**
 * As a superuser: creates the role (or resets its password and privileges) and its database owned
 * by it; other roles may not connect to that database. Idempotent.
 */
export const ensure = (superuser: SqlClient.SqlClient, service: ServiceRole): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const role = quoteIdentifier(service.role)
    const database = quoteIdentifier(service.database)
    const roles = yield* superuser<{ n: number }>`SELECT 1 AS n FROM pg_roles WHERE rolname = ${service.role}`
    const attributes = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${
      quoteLiteral(service.password)
    }`
    yield* superuser.unsafe(roles.length === 0 ? `CREATE ROLE ${role} ${attributes}` : `ALTER ROLE ${role} ${attributes}`)
    const databases = yield* superuser<{ n: number }>`SELECT 1 AS n FROM pg_database WHERE datname = ${service.database}`
    if (databases.length === 0) yield* superuser.unsafe(`CREATE DATABASE ${database} OWNER ${role}`)
    else yield* superuser.unsafe(`ALTER DATABASE ${database} OWNER TO ${role}`)
    yield* superuser.unsafe(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`)
  })

/** Warns when the connected role is a superuser (it bypasses row-level security). */
export const checkNotSuperuser = (client: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  Effect.flatMap(
    client<{ name: string; superuser: boolean }>`SELECT current_user AS name, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`,
    (rows) =>
      rows[0]?.superuser === true
        ? Effect.logWarning(
          `The service connects to PostgreSQL as ${rows[0].name}, a superuser: row-level security policies do not apply ` +
            `to it and any statement can run programs on the database host; connect as a role that only owns the ` +
            `application's schema (see the README, "The database role")`
        )
        : Effect.void
  )
