/**
 * The ledger: the reference example of database programming with wampgres (tour: docs/ledger.md).
 * Its contracts are in `./contract.ts`; this module implements them.
 *
 * - every procedure runs as its caller (`asCaller`): PostgreSQL row-level security (migration 0004)
 *   shows and changes only the caller's accounts, so no handler filters by owner itself;
 * - `open_account` / `get_account`: rows decoded by Schemas; `mint` for the admin authrole;
 * - `transfer`: one INSERT, which the posting trigger turns into both balance updates (accounts
 *   locked in id order), `on_transfer` written to the outbox for the payer only and published after
 *   COMMIT; the whole transaction is retried on serialization failure/deadlock, a bounded number of
 *   times; idempotent with `idempotency_key` (keys are the caller's own);
 * - `history`: rows streamed from a PostgreSQL portal as progressive results, paced by the socket,
 *   canceled in PostgreSQL when the caller cancels or leaves;
 * - `on_account_change`: a trigger writes each balance change into the transactional outbox
 *   (migration 0005), whoever made it, for the account's owner only; the outbox relay publishes it
 *   after COMMIT, as `on_transfer`.
 *
 * `Ledger.layer` is the one line for the composition: migrations, then the procedures and the outbox.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import * as Stream from "effect/Stream"
import * as Events from "../Events.js"
import * as Group from "../Group.js"
import * as Idempotency from "../Idempotency.js"
import * as Migrations from "../Migrations.js"
import * as Outbox from "../Outbox.js"
import * as Procedure from "../Procedure.js"
import * as Progressive from "../Progressive.js"
import * as Rows from "../Rows.js"
import { mapSqlState, SqlStates } from "../SqlState.js"
import * as Contract from "./contract.js"
import {
  AccountRow,
  adminRole,
  Id,
  InsufficientFunds,
  InvalidArgument,
  NoSuchAccount,
  NotAdmin,
  Transfer,
  TransferRow,
  Uris
} from "./schema.js"

export * from "./schema.js"

/** `history` without progressive results returns at most this many transfers (default 1000). */
export const maxListedTransfers = 10_000
const defaultListedTransfers = 1_000

const noSuchAccount = (id: number) => new NoSuchAccount({ id })

const findAccount = Effect.fnUntraced(function*(id: number) {
  const sql = yield* SqlClient.SqlClient
  const find = SqlSchema.findOneOption({
    Request: Id,
    Result: AccountRow,
    execute: (id) => sql`SELECT id, owner, balance FROM ledger_accounts WHERE id = ${id}`
  })
  return yield* Effect.orDie(find(id))
})

/** The owner is the caller's authid as PostgreSQL sees it (`ledger_caller()`), never an argument. */
export const openAccount = Procedure.implement(
  Contract.openAccount,
  Effect.fnUntraced(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`INSERT INTO ledger_accounts (owner) VALUES (ledger_caller()) RETURNING id, owner, balance`
    const [account] = yield* Rows.decodeAll(AccountRow)(rows)
    return account!
  })
)

/** Only for the admin authrole; row-level security lets that role (and only it) change any balance. */
export const mint = Procedure.implement(
  Contract.mint,
  Effect.fnUntraced(function*({ account, amount }, request) {
    if (request.callerAuthrole !== adminRole) return yield* new NotAdmin({ authrole: request.callerAuthrole ?? "" })
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`UPDATE ledger_accounts SET balance = balance + ${amount}::bigint WHERE id = ${account}
                            RETURNING id, owner, balance`
    const [updated] = yield* Rows.decodeAll(AccountRow)(rows)
    return updated ?? (yield* noSuchAccount(account))
  })
)

export const getAccount = Procedure.implement(
  Contract.getAccount,
  ({ id }) =>
    Effect.flatMap(findAccount(id), Option.match({ onNone: () => Effect.fail(noSuchAccount(id)), onSome: Effect.succeed }))
)

/**
 * One transfer, inside the transaction `Idempotency.transaction` opens (and reopens on 40001/40P01),
 * which starts as the caller. The INSERT does the work: row-level security admits it only from the
 * caller's own account, and the posting trigger locks both accounts in id order, debits and credits
 * them (migration 0004).
 */
const transferOnce = Effect.fnUntraced(function*(
  { amount, from, to }: { from: number; to: number; amount: number },
  payer: string | undefined
) {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* Effect.flatMap(
    sql`INSERT INTO ledger_transfers (from_account, to_account, amount)
        VALUES (${from}, ${to}, ${amount})
        RETURNING id, from_account AS "from", to_account AS "to", amount, at`,
    Rows.decodeAll(TransferRow)
  )
  const [source] = yield* Effect.flatMap(
    sql`SELECT id, owner, balance FROM ledger_accounts WHERE id = ${from}`,
    Rows.decodeAll(AccountRow)
  )
  const transfer = row!
  // To the payer only; the payee learns of it through on_account_change.
  yield* Events.publishAfterCommit(
    Uris.onTransfer,
    { args: [Schema.encodeSync(Transfer)(transfer)] },
    payer === undefined ? undefined : { eligible_authid: [payer] }
  )
  return { id: transfer.id, from_balance: source!.balance }
})

/** The transfer's SQLSTATEs as its typed errors. */
const transferErrors = (input: { from: number; to: number; amount: number }) =>
  mapSqlState<InsufficientFunds | NoSuchAccount>({
    // Not the caller's account (or none): the pay policy refused the row; nothing says which.
    [SqlStates.insufficientPrivilege]: () => noSuchAccount(input.from),
    [SqlStates.checkViolation]: () => new InsufficientFunds({ account: input.from, amount: input.amount }),
    // The owners trigger found no account `to` (the foreign key would say the same).
    [SqlStates.notNullViolation]: () => noSuchAccount(input.to),
    [SqlStates.foreignKeyViolation]: () => noSuchAccount(input.to)
  })

export const transfer = Procedure.implement(
  Contract.transfer,
  (input, request) =>
    input.from === input.to
      ? Effect.fail(new InvalidArgument({ message: "from and to must be different accounts" }))
      : Idempotency.transaction(
        Contract.transfer,
        input.idempotency_key,
        input,
        // Mapped inside the idempotent work, so a typed error is stored under the key like a result;
        // and again outside, for a constraint checked at COMMIT (then nothing is stored: a retry runs).
        transferOnce(input, request.callerAuthid).pipe(transferErrors(input)),
        () => new InvalidArgument({ message: "idempotency_key: already used for a transfer with other arguments" })
      ).pipe(transferErrors(input))
)

/**
 * An account's transfers, oldest first. Each side has its own index ordered by id, and PostgreSQL
 * merges the two ordered scans (Merge Append): the first row comes at once, no sort of the set.
 */
const historyQuery = (sql: SqlClient.SqlClient, account: number, limit: number | undefined) =>
  sql`SELECT id, from_account AS "from", to_account AS "to", amount, at FROM (
        (SELECT * FROM ledger_transfers WHERE from_account = ${account} ORDER BY id)
        UNION ALL
        (SELECT * FROM ledger_transfers WHERE to_account = ${account} ORDER BY id)
      ) AS t
      ORDER BY id
      LIMIT ${limit ?? null}::bigint`

/**
 * The row-level security filter looks selective to the planner (an OR of owner comparisons), which
 * then prefers a bitmap scan and a sort of the whole set to the ordered index scans: with sorting
 * off for the history's transaction, the first row comes at once again and streaming stays paced.
 */
export const historyPlanner = (sql: SqlClient.SqlClient) => sql`SELECT set_config('enable_sort', 'off', true)`

export const history = Procedure.implement(
  Contract.history,
  Effect.fnUntraced(function*({ account, limit }, request) {
    const sql = yield* SqlClient.SqlClient
    if (Option.isNone(yield* findAccount(account))) return yield* noSuchAccount(account)
    yield* historyPlanner(sql)
    if (request.progress !== undefined) {
      const decodeRow = Schema.decodeUnknownEffect(TransferRow)
      const rows = historyQuery(sql, account, limit).stream.pipe(Stream.mapEffect((row) => Effect.orDie(decodeRow(row))))
      const count = yield* Progressive.send(rows, request, Contract.history.progress)
      return { count }
    }
    if (limit !== undefined && limit > maxListedTransfers) {
      return yield* new InvalidArgument({
        message: `limit: at most ${maxListedTransfers} without progressive results (call with receive_progress for more)`
      })
    }
    const transfers = yield* Effect.flatMap(historyQuery(sql, account, limit ?? defaultListedTransfers), Rows.decodeAll(TransferRow))
    return { count: transfers.length, transfers }
  })
)

/** The ledger's procedures. */
export const LedgerGroup = Group.make("ledger", [openAccount, getAccount, transfer, history, mint])

/**
 * The ledger's schema: `src/procedures/ledger/migrations/`, recorded in `wampgres_migrations_ledger`,
 * after the outbox's (the balance trigger writes into it).
 */
export const LedgerMigrations = Migrations.layer("ledger", Migrations.fromDirectory(new URL("./migrations/", import.meta.url)))
  .pipe(Layer.provide(Outbox.migrations))

/** Migrations first, then the procedures, publishing through the outbox. */
export const layer = LedgerGroup.layer.pipe(
  Layer.provide(Layer.merge(Outbox.layer, Idempotency.layer)),
  Layer.provide(LedgerMigrations)
)
