/**
 * Idempotent procedures: a caller sends an idempotency key; the first call with a key does the work
 * and stores its outcome (result, or typed error) in `wampgres_idempotency` in the same
 * transaction; a repeated call with that key gets the stored outcome without doing the work again,
 * across reconnects, instance failover and restarts (the outcome is in PostgreSQL), for at least
 * `IDEMPOTENCY_RETENTION`. A caller whose call failed ambiguously (connection lost, timeout)
 * retries with the same key safely (`Client.callIdempotent`).
 *
 * - concurrent calls with one key: the second waits for the first's transaction (the key's row is
 *   locked until COMMIT), then returns its outcome; if the first rolled back, the second does the work;
 * - a key reused with different arguments fails with the procedure's own "conflict" error;
 * - only declared typed errors are stored: database errors and defects roll everything back, so a
 *   retry does the work.
 * - in a procedure declared `asCaller`, keys are the caller's own (stored with its authid): another
 *   caller's same key is a new key, never a way to read someone else's outcome; the transaction
 *   starts as the caller (`Transaction.retrying` applies `Caller.apply` after each BEGIN), so the
 *   role the group maps the caller to needs INSERT, SELECT and UPDATE on `wampgres_idempotency`
 *   (the service's own table, without row-level security; no grant is needed without a role map).
 *
 * ```ts
 * handler: (input) => Idempotency.transaction(transfer, input.idempotency_key, input, work(input), conflict)
 * ```
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Caller from "./Caller.js"
import type { Contract } from "./Contract.js"
import * as Migrations from "./Migrations.js"
import * as Transaction from "./Transaction.js"

export interface IdempotencySettings {
  /** Outcomes are kept at least this long. */
  readonly retention: Duration.Duration
}

/** The idempotency settings; `src/main.ts` provides them from `src/Settings.ts`. */
export class Settings extends Context.Reference<IdempotencySettings>("wampgres/procedures/Idempotency/Settings", {
  defaultValue: () => ({ retention: Duration.hours(24) })
}) {}

const schema = Migrator.fromRecord({
  "1_idempotency": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE wampgres_idempotency (
      procedure  text        NOT NULL,
      -- The caller's authid in asCaller procedures ('' otherwise): keys are per caller.
      authid     text        NOT NULL DEFAULT '',
      key        text        NOT NULL,
      arguments  text        NOT NULL,
      outcome    jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (procedure, authid, key)
    )`
    yield* sql`CREATE INDEX wampgres_idempotency_created ON wampgres_idempotency (created_at)`
  })
})

/** The table, migrated at start-up (`wampgres_migrations_wampgres_idempotency`). */
export const migrations = Migrations.layer("wampgres_idempotency", schema)

const Outcome = Schema.Union([
  Schema.Struct({ result: Schema.Unknown }),
  Schema.Struct({ error: Schema.Record(Schema.String, Schema.Unknown) })
])

/** The arguments of a call as stored beside its key: canonical JSON (keys sorted), the key left out. */
export const fingerprint = (input: unknown): string =>
  JSON.stringify(input, (_key, value: unknown) =>
    value !== null && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value)

/**
 * Runs `work` in one transaction (`Transaction.retrying`: again from the start after 40001/40P01),
 * once per `key` of `contract`'s procedure: the key's row and its outcome commit with the work, a
 * typed failure included (the work itself is rolled back to a savepoint). Without a key, just the
 * retried transaction.
 */
export const transaction = <I, O, E, R>(
  contract: Contract<I, O, E>,
  key: string | undefined,
  input: Record<string, unknown>,
  work: Effect.Effect<O, E | SqlError, R>,
  conflict: () => E,
  options?: Transaction.RetryOptions
): Effect.Effect<O, E | SqlError, R | SqlClient.SqlClient> => {
  if (key === undefined) return Transaction.retrying(work, options)
  const { idempotency_key: _, ...rest } = input
  const args = fingerprint(rest)
  const once = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const authid = (yield* Caller.Caller)?.authid ?? ""
    const claimed = yield* sql`INSERT INTO wampgres_idempotency (procedure, authid, key, arguments)
      VALUES (${contract.uri}, ${authid}, ${key}, ${args}) ON CONFLICT DO NOTHING RETURNING 1 AS claimed`
    if (claimed.length === 0) {
      const [stored] = yield* sql<{ arguments: string; outcome: unknown }>`SELECT arguments, outcome
        FROM wampgres_idempotency WHERE procedure = ${contract.uri} AND authid = ${authid} AND key = ${key}`
      if (stored === undefined) return yield* Effect.die(new Error(`idempotency key ${key} vanished`))
      if (stored.arguments !== args) return Exit.fail(conflict())
      return yield* replay(contract, stored.outcome)
    }
    // A savepoint: a typed failure rolls back the work but keeps the key's row to record it.
    const exit = yield* Effect.exit(sql.withTransaction(work))
    if (exit._tag === "Success") {
      const result = yield* Effect.orDie(Schema.encodeUnknownEffect(contract.output)(exit.value))
      yield* record(sql, contract.uri, authid, key, { result })
      return Exit.succeed(exit.value)
    }
    const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
    const declared = failure === undefined ? undefined : contract.errors.find((error) => Schema.is(error)(failure.error))
    if (failure !== undefined && declared !== undefined) {
      const error = yield* Effect.orDie(Schema.encodeUnknownEffect(declared)(failure.error))
      yield* record(sql, contract.uri, authid, key, { error })
      return Exit.fail(failure.error as E)
    }
    // Database errors and defects: everything rolls back (and 40001/40P01 run it again).
    return yield* Effect.failCause(exit.cause)
  })
  return Effect.flatMap(Transaction.retrying(once, options), (outcome: Exit.Exit<O, E>) => outcome)
}

const record = (sql: SqlClient.SqlClient, procedure: string, authid: string, key: string, outcome: unknown) =>
  sql`UPDATE wampgres_idempotency SET outcome = ${JSON.stringify(outcome)}::jsonb
      WHERE procedure = ${procedure} AND authid = ${authid} AND key = ${key}`

/** The stored outcome as the first call ended: its result, or its typed error. */
const replay = <I, O, E>(contract: Contract<I, O, E>, stored: unknown): Effect.Effect<Exit.Exit<O, E>> =>
  Effect.gen(function*() {
    const outcome = yield* Effect.orDie(Schema.decodeUnknownEffect(Outcome)(stored))
    if ("result" in outcome) {
      return Exit.succeed(yield* Effect.orDie(Schema.decodeUnknownEffect(contract.output)(outcome.result)))
    }
    for (const declared of contract.errors) {
      const decoded = Schema.decodeUnknownOption(declared)(outcome.error)
      if (decoded._tag === "Some") return Exit.fail(decoded.value)
    }
    return yield* Effect.die(new Error(`stored outcome of ${contract.uri} matches none of its errors`))
  })

/** Deletes outcomes past the retention, every minute (any instance may; deleting twice is harmless). */
const cleanup = Effect.gen(function*() {
  const { retention } = yield* Settings
  const sql = yield* SqlClient.SqlClient
  const seconds = Duration.toSeconds(retention)
  yield* sql`DELETE FROM wampgres_idempotency WHERE created_at < now() - make_interval(secs => ${seconds})`.pipe(
    Effect.catchCause((cause) => Effect.logDebug("idempotency: cleanup failed, trying again later", cause)),
    Effect.repeat(Schedule.spaced("1 minute"))
  )
})

/** The table and its cleanup, for the groups with idempotent procedures (`Layer.provide`). */
export const layer = Layer.effectDiscard(Effect.forkScoped(cleanup)).pipe(Layer.provide(migrations))
