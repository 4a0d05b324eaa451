/**
 * Schema migrations at start-up, one folder (and one bookkeeping table) per procedure group, run by
 * `effect/sql`'s migrator (the engine behind `@effect/sql-pg`'s `PgMigrator`).
 *
 * A folder holds files named `<id>_<name>.ts`, each `export default` an Effect using `SqlClient`:
 *
 * ```ts
 * // src/procedures/ledger/migrations/0001_accounts.ts
 * export default Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE ledger_accounts (...)`)
 * ```
 *
 * - ordered: by id; only ids above the last one applied run, each group's run in one transaction
 *   (a failing migration leaves nothing behind);
 * - idempotent: applied ids are recorded in `wampgres_migrations_<group>`, so a restart applies
 *   nothing; the migrator holds an exclusive lock on that table while it runs, so two components
 *   starting together do not both migrate;
 * - per group: groups keep separate tables, so their ids never collide.
 *
 * Use `Migrations.layer("ledger", Migrations.fromDirectory(new URL("./migrations/", import.meta.url)))`
 * under the group's layer (`Layer.provide`), so procedures register only after their schema exists.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Migrator from "effect/sql/Migrator"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as MigratorFileSystem from "effect/sql/MigratorFileSystem"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { fileURLToPath } from "node:url"

export { fromRecord, MigrationError } from "effect/sql/Migrator"

/** The migrator without `pg_dump` schema dumps (so it needs nothing but `SqlClient`). */
const migrate = Migrator.make({})

/** The bookkeeping table of a group: `wampgres_migrations_<group>`. */
export const tableFor = (group: string): string => `wampgres_migrations_${group.replace(/[^A-Za-z0-9_]/g, "_")}`

/**
 * Loads the migrations in a folder with effect/sql's own file-system loader: files
 * `<id>_<name>.(ts|js|mts|mjs)`, sorted by id, imported when they are due; other files ignored.
 */
export const fromDirectory = (directory: URL): Migrator.Loader =>
  MigratorFileSystem.fromFileSystem(fileURLToPath(directory)).pipe(
    Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
  )

/** Runs a group's pending migrations; returns the ones applied (`[id, name]`). */
export const run = (
  group: string,
  loader: Migrator.Loader
): Effect.Effect<ReadonlyArray<readonly [id: number, name: string]>, Migrator.MigrationError | SqlError, SqlClient.SqlClient> =>
  migrate({ loader, table: tableFor(group) }).pipe(
    Effect.tap((applied) =>
      applied.length === 0
        ? Effect.logDebug("schema up to date")
        : Effect.logInfo(`applied migrations ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`)
    ),
    Effect.annotateLogs("migrations", group)
  )

/** A layer that migrates a group's schema when it is built (provide it under the group's layer). */
export const layer = (
  group: string,
  loader: Migrator.Loader
): Layer.Layer<never, Migrator.MigrationError | SqlError, SqlClient.SqlClient> => Layer.effectDiscard(run(group, loader))
