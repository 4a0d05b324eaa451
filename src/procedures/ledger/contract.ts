/**
 * The ledger's contracts: what a caller can rely on, with no SQL and no server code (a browser or
 * another service imports this module for typed calls). The handlers are in `./index.ts`.
 */
import * as Schema from "effect/Schema"
import * as Contract from "../Contract.js"
import {
  Account,
  AccountChange,
  Amount,
  Balance,
  DuplicateOwner,
  HistoryResult,
  Id,
  IdempotencyKey,
  InsufficientFunds,
  InvalidArgument,
  NoSuchAccount,
  Owner,
  Transfer,
  TransferResult,
  Uris
} from "./schema.js"

export * from "./schema.js"

export const openAccount = Contract.make(Uris.openAccount, {
  args: { owner: Owner, balance: Balance },
  result: Account,
  errors: [DuplicateOwner],
  description: "Opens an account for an owner with a starting balance."
})

export const getAccount = Contract.make(Uris.getAccount, {
  args: { id: Id },
  positional: ["id"],
  result: Account,
  errors: [NoSuchAccount],
  description: "An account and its balance."
})

/**
 * One transaction, run again from the start after a serialization failure or deadlock. The handler
 * opens it (`Transaction.retrying`) after checking `from != to`, so a call rejected by that check
 * sends no statement; `transactional: { retries: 5 }` would open it before the handler runs.
 *
 * With `idempotency_key`, a repeated call with the same key returns the first call's result (or
 * typed error) without moving money again, for `IDEMPOTENCY_RETENTION`; the same key with other
 * arguments is `invalid_argument`.
 */
export const transfer = Contract.make(Uris.transfer, {
  args: { from: Id, to: Id, amount: Amount, idempotency_key: Schema.optionalKey(IdempotencyKey) },
  result: TransferResult,
  errors: [NoSuchAccount, InsufficientFunds, InvalidArgument],
  description: "Moves an amount from one account to another in one transaction; publishes on_transfer after COMMIT."
})

/** With `receive_progress`: every transfer as one progressive result, then `{ count }`. */
export const history = Contract.streaming(Uris.history, {
  args: { account: Id, limit: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))) },
  result: HistoryResult,
  progress: Transfer,
  errors: [NoSuchAccount, InvalidArgument],
  description: "An account's transfers, oldest first: streamed one per progressive result with receive_progress."
})

/** Every committed transfer. */
export const onTransfer = Contract.topic(Uris.onTransfer, {
  payload: Transfer,
  description: "A transfer, published once its transaction has committed."
})

/** Every balance change (from the accounts table's trigger, through LISTEN/NOTIFY). */
export const onAccountChange = Contract.topic(Uris.onAccountChange, {
  payload: AccountChange,
  description: "An account's new balance, after every committed change."
})

/** The ledger's contracts, for reflection and typed clients. */
export const procedures = [openAccount, getAccount, transfer, history] as const
export const topics = [onTransfer, onAccountChange] as const
