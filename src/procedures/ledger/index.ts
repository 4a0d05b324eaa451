/**
 * The ledger: the reference example of database programming with wampgres (tour: docs/ledger.md).
 * Its contracts are in `./contract.ts`; this module implements them.
 *
 * - `open_account` / `get_account`: rows decoded by Schemas, a unique violation (23505) mapped to
 *   `duplicate_owner`;
 * - `transfer`: locks both accounts in id order (no deadlock between opposite transfers), checks the
 *   balance, writes, and publishes `on_transfer` only after COMMIT; the whole transaction is retried
 *   on serialization failure/deadlock, a bounded number of times;
 * - `history`: rows streamed from a PostgreSQL portal as progressive results, paced by the socket,
 *   canceled in PostgreSQL when the caller cancels or leaves;
 * - `on_account_change`: a trigger NOTIFYs `ledger_accounts`, the LISTEN/NOTIFY bridge publishes.
 *
 * `Ledger.layer` is the one line for the composition: migrations, then the procedures and the bridge.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as SqlSchema from "effect/sql/SqlSchema"
import * as Stream from "effect/Stream"
import * as NotifyBridge from "../../layers/NotifyBridge.js"
import * as Events from "../Events.js"
import * as Group from "../Group.js"
import * as Migrations from "../Migrations.js"
import * as Procedure from "../Procedure.js"
import * as Progressive from "../Progressive.js"
import * as Rows from "../Rows.js"
import { mapSqlState, SqlStates } from "../SqlState.js"
import * as Transaction from "../Transaction.js"
import * as Contract from "./contract.js"
import {
  AccountRow,
  DuplicateOwner,
  Id,
  InsufficientFunds,
  InvalidArgument,
  NoSuchAccount,
  Transfer,
  TransferRow,
  Uris,
  accountsChannel
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

export const openAccount = Procedure.implement(
  Contract.openAccount,
  Effect.fnUntraced(function*({ balance, owner }) {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql`INSERT INTO ledger_accounts ${sql.insert({ owner, balance })} RETURNING id, owner, balance`.pipe(
      mapSqlState({
        [SqlStates.uniqueViolation]: () => new DuplicateOwner({ owner })
      })
    )
    const [account] = yield* Rows.decodeAll(AccountRow)(rows)
    return account!
  })
)

export const getAccount = Procedure.implement(
  Contract.getAccount,
  ({ id }) =>
    Effect.flatMap(findAccount(id), Option.match({ onNone: () => Effect.fail(noSuchAccount(id)), onSome: Effect.succeed }))
)

/** One transfer, inside the transaction `Transaction.retrying` opens (and reopens on 40001/40P01). */
const transferOnce = Effect.fnUntraced(function*({ amount, from, to }: { from: number; to: number; amount: number }) {
  const sql = yield* SqlClient.SqlClient
  // Both rows locked in id order: two opposite transfers wait for each other instead of deadlocking.
  const locked = yield* Effect.flatMap(
    sql`SELECT id, owner, balance FROM ledger_accounts WHERE id IN (${from}, ${to}) ORDER BY id FOR UPDATE`,
    Rows.decodeAll(AccountRow)
  )
  const source = locked.find((account) => account.id === from)
  if (source === undefined) return yield* noSuchAccount(from)
  if (locked.every((account) => account.id !== to)) return yield* noSuchAccount(to)
  if (source.balance < amount) {
    return yield* new InsufficientFunds({ account: from, amount })
  }
  const balances = yield* Effect.flatMap(
    sql`UPDATE ledger_accounts
        SET balance = balance + CASE WHEN id = ${from} THEN -${amount}::bigint ELSE ${amount}::bigint END
        WHERE id IN (${from}, ${to})
        RETURNING id, owner, balance`,
    Rows.decodeAll(AccountRow)
  )
  const [row] = yield* Effect.flatMap(
    sql`INSERT INTO ledger_transfers (from_account, to_account, amount)
        VALUES (${from}, ${to}, ${amount})
        RETURNING id, from_account AS "from", to_account AS "to", amount, at`,
    Rows.decodeAll(TransferRow)
  )
  const transfer = row!
  yield* Events.publishAfterCommit(Uris.onTransfer, { args: [Schema.encodeSync(Transfer)(transfer)] })
  return {
    id: transfer.id,
    from_balance: balances.find((account) => account.id === from)!.balance,
    to_balance: balances.find((account) => account.id === to)!.balance
  }
})

export const transfer = Procedure.implement(
  Contract.transfer,
  (input) =>
    input.from === input.to
      ? Effect.fail(new InvalidArgument({ message: "from and to must be different accounts" }))
      : Transaction.retrying(transferOnce(input)).pipe(
        // The table's constraints back up the checks above (a row changed by hand, a future bug).
        mapSqlState<InsufficientFunds | NoSuchAccount>({
          [SqlStates.checkViolation]: () => new InsufficientFunds({ account: input.from, amount: input.amount }),
          [SqlStates.foreignKeyViolation]: () => noSuchAccount(input.from)
        })
      )
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

export const history = Procedure.implement(
  Contract.history,
  Effect.fnUntraced(function*({ account, limit }, request) {
    const sql = yield* SqlClient.SqlClient
    if (Option.isNone(yield* findAccount(account))) return yield* noSuchAccount(account)
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
export const LedgerGroup = Group.make("ledger", [openAccount, getAccount, transfer, history])

/** The ledger's schema: `src/procedures/ledger/migrations/`, recorded in `wampgres_migrations_ledger`. */
export const LedgerMigrations = Migrations.layer("ledger", Migrations.fromDirectory(new URL("./migrations/", import.meta.url)))

/** `ledger_accounts` notifications → `com.example.ledger.on_account_change`. */
export const accountChanges: NotifyBridge.Mapping = { channel: accountsChannel, topic: Uris.onAccountChange }

/** Migrations first, then the procedures and the account-change bridge. */
export const layer = Layer.mergeAll(LedgerGroup.layer, NotifyBridge.layer([accountChanges])).pipe(
  Layer.provide(LedgerMigrations)
)
