/**
 * The `pgbench-transfer` baseline: what PostgreSQL does with the ledger's transfer transaction alone,
 * so that the `ledger.transfer` row is a ratio. One pgbench transaction sends the statements one
 * `com.example.ledger.transfer` call (no idempotency key) sends, in order, as the service's role:
 *
 * 1. `BEGIN`
 * 2. the caller's identity, transaction-local (`Caller.apply`: authid, authrole, WAMP session)
 * 3. the `INSERT INTO ledger_transfers ... RETURNING` (its triggers post both balances and write
 *    both `on_account_change` events into the outbox, as they do for the service)
 * 4. the payer's account `SELECT`
 * 5. `wampgres_outbox_publish` of `on_transfer` to the payer (`Events.publishAfterCommit` through
 *    the outbox)
 * 6. `COMMIT`
 *
 * Accounts are opened the way the `ledger.transfer` workload opens them (`workloads.ts`): as many,
 * funded alike, one owner per load-client session, each paying from its own accounts into any.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import type { PgbenchScript } from "./pgbench.js"
import type { FinalCheck } from "./workloads.js"
import { INITIAL_BALANCE, transferAccountCount } from "./workloads.js"

export class TransferSetupError extends Schema.TaggedError<TransferSetupError>()("TransferSetupError", {
  message: Schema.String
}) {}

/** The accounts a pgbench-transfer run pays between: ids `base .. base + count - 1`. */
export interface TransferAccounts {
  readonly base: number
  readonly count: number
  /** Account `base + i` belongs to `owners[i % owners.length]`, as session `i % sessions` in the workload. */
  readonly owners: ReadonlyArray<string>
}

/** The authrole the bench's router gives its sessions (its config), so the ledger's transfers run as it. */
export const benchAuthrole = "admin"

const onTransfer = "com.example.ledger.on_transfer"

/** The accounts owned by `owner` index `k`: `k, k + K, k + 2K, ...` below `count`. */
const ownedCount = (count: number, owners: number, k: number): number => Math.floor((count - 1 - k) / owners) + 1

/**
 * One script per owner (pgbench picks one per transaction, equal weights): from one of that owner's
 * accounts, to any other account, amount 1. Statements are those of the service, parameters bound
 * by pgbench (`-M prepared`, as `@effect/sql-pg` prepares and caches statements per connection).
 */
export const transferScripts = (accounts: TransferAccounts): Array<PgbenchScript> => {
  const owners = accounts.owners.length
  return accounts.owners.map((_, k) => ({
    name: `transfer-${k}.sql`,
    text: [
      `\\set fi ${k} + ${owners} * random(0, ${ownedCount(accounts.count, owners, k) - 1})`,
      `\\set ti random(0, ${accounts.count - 2})`,
      `\\set ti case when :ti >= :fi then :ti + 1 else :ti end`,
      `\\set from ${accounts.base} + :fi`,
      `\\set to ${accounts.base} + :ti`,
      "BEGIN;",
      `SELECT set_config('wampgres.authid', :owner${k}, true), set_config('wampgres.authrole', :authrole, true), set_config('wampgres.session', :session${k}, true);`,
      `INSERT INTO ledger_transfers (from_account, to_account, amount) VALUES (:from, :to, :amount) RETURNING id, from_account AS "from", to_account AS "to", amount, at \\gset t_`,
      "SELECT id, owner, balance FROM ledger_accounts WHERE id = :from;",
      // The service encodes the transfer it just inserted as the event's args; here PostgreSQL
      // builds the same array from the INSERT's RETURNING (pgbench cannot build JSON itself).
      "SELECT wampgres_outbox_publish(:topic, jsonb_build_array(jsonb_build_object('id', :t_id::bigint, 'from', :t_from::bigint, " +
      "'to', :t_to::bigint, 'amount', :t_amount::bigint, 'at', :t_at::text)), :kwargs::jsonb, :options" + k + "::jsonb);",
      "COMMIT;",
      ""
    ].join("\n")
  }))
}

/** The `-D` variables of the scripts: each owner's authid, session id and PUBLISH options. */
export const transferVariables = (accounts: TransferAccounts): Record<string, string> => ({
  authrole: benchAuthrole,
  topic: onTransfer,
  kwargs: "{}",
  amount: "1",
  ...Object.fromEntries(accounts.owners.flatMap((owner, k) => [
    [`owner${k}`, owner],
    [`session${k}`, String(1_000_001 + k)],
    [`options${k}`, JSON.stringify({ eligible_authid: [owner] })]
  ]))
})

/** A transaction that sees every account: the admin authrole, as the workload mints and reads. */
const asAdmin = <A, E, R>(work: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.andThen(sql`SELECT set_config('wampgres.authrole', ${benchAuthrole}, true)`, work)
    ))

const describe = (e: unknown): string => e instanceof Error ? e.message : String(e)

const database = (url: string) => Layer.fresh(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))

/**
 * The ledger's schema (the service's own migrations, as the service's role) and `count` accounts
 * for `sessions` owners, funded like the workload's. Fails if PostgreSQL did not number them in a row.
 */
export const prepareTransferAccounts = (url: string, options: { readonly runId: string; readonly sessions: number; readonly inflight: number }) =>
  Effect.gen(function*() {
    const ledger = yield* Effect.promise(() =>
      import(pathToFileURL(join(process.cwd(), "src/procedures/ledger/index.ts")).href) as Promise<
        { readonly LedgerMigrations: Layer.Layer<never, unknown, SqlClient.SqlClient> }
      >
    )
    yield* Layer.build(ledger.LedgerMigrations).pipe(Effect.scoped)
    const sql = yield* SqlClient.SqlClient
    const count = transferAccountCount(options.inflight, options.sessions)
    const prefix = `bench-${options.runId}-caller-`
    const owners = Array.from({ length: options.sessions }, (_, k) => `${prefix}${k}`)
    const rows = yield* asAdmin(
      sql<{ id: string; owner: string }>`INSERT INTO ledger_accounts (owner, balance)
        SELECT ${prefix} || (i % ${owners.length})::text, ${INITIAL_BALANCE}::bigint
        FROM generate_series(0, ${count - 1}) AS i ORDER BY i
        RETURNING id::text, owner`
    )
    const sorted = rows.map((r) => ({ id: Number(r.id), owner: r.owner })).sort((a, b) => a.id - b.id)
    const base = sorted[0]?.id ?? 0
    const inRow = sorted.length === count && sorted.every((r, i) => r.id === base + i && r.owner === owners[i % owners.length])
    if (!inRow) {
      return yield* new TransferSetupError({ message: `accounts not numbered in a row: ${sorted.map((r) => r.id).join(",").slice(0, 200)}` })
    }
    return { base, count, owners } satisfies TransferAccounts
  }).pipe(
    Effect.provide(database(url)),
    Effect.mapError((e) => e instanceof TransferSetupError ? e : new TransferSetupError({ message: `ledger setup: ${describe(e)}` }))
  )

/**
 * The checks of the workload, and that the transactions did what the service's do: the sum of the
 * balances unchanged, one transfer and one `on_transfer` event per transaction pgbench counted, two
 * `on_account_change` events per transfer (plus one per account opened).
 */
export const checkTransfers = (url: string, accounts: TransferAccounts, processed: number | undefined) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const last = accounts.base + accounts.count - 1
    const [figures] = yield* asAdmin(
      sql<{ total: string; transfers: string; on_transfer: string; on_change: string }>`SELECT
        (SELECT sum(balance) FROM ledger_accounts WHERE id BETWEEN ${accounts.base} AND ${last})::text AS total,
        (SELECT count(*) FROM ledger_transfers WHERE from_account BETWEEN ${accounts.base} AND ${last})::text AS transfers,
        (SELECT count(*) FROM wampgres_outbox WHERE topic = ${onTransfer}
           AND options -> 'eligible_authid' ->> 0 IN ${sql.in(accounts.owners)})::text AS on_transfer,
        (SELECT count(*) FROM wampgres_outbox WHERE topic = 'com.example.ledger.on_account_change'
           AND options -> 'eligible_authid' ->> 0 IN ${sql.in(accounts.owners)})::text AS on_change`
    )
    const expectedTotal = BigInt(accounts.count) * BigInt(INITIAL_BALANCE)
    const transfers = Number(figures?.transfers ?? -1)
    const checks: Array<FinalCheck> = [
      {
        name: "sum of balances unchanged",
        ok: BigInt(figures?.total ?? -1) === expectedTotal,
        detail: `${accounts.count} accounts: expected ${expectedTotal}, found ${figures?.total}`
      },
      {
        name: "one transfer per transaction",
        ok: processed !== undefined && transfers === processed,
        detail: `pgbench processed ${processed ?? "?"}, ledger_transfers has ${transfers}`
      },
      {
        name: "outbox events as the service writes them",
        ok: Number(figures?.on_transfer) === transfers && Number(figures?.on_change) === 2 * transfers + accounts.count,
        detail: `on_transfer ${figures?.on_transfer} (expected ${transfers}), on_account_change ${figures?.on_change} ` +
          `(expected ${2 * transfers + accounts.count})`
      }
    ]
    return checks
  }).pipe(
    Effect.provide(database(url)),
    Effect.mapError((e) => new TransferSetupError({ message: `checks: ${describe(e)}` }))
  )
