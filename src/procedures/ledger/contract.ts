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
  HistoryResult,
  Id,
  IdempotencyKey,
  InsufficientFunds,
  InvalidArgument,
  NoSuchAccount,
  NotAdmin,
  Transfer,
  TransferResult,
  Uris
} from "./schema.js"

export * from "./schema.js"

/**
 * Every ledger procedure runs as its caller (`asCaller`): row-level security in PostgreSQL shows and
 * changes only the caller's accounts (docs/ledger.md); another owner's account is `no_such_account`.
 */

/** A new account of the caller (its authid is the owner), balance 0. */
export const openAccount = Contract.make(Uris.openAccount, {
  result: Account,
  description: "Opens an account for the caller (its authid is the owner) with a zero balance.",
  transactional: true,
  asCaller: true
})

export const getAccount = Contract.make(Uris.getAccount, {
  args: { id: Id },
  positional: ["id"],
  result: Account,
  errors: [NoSuchAccount],
  description: "One of the caller's accounts and its balance.",
  transactional: true,
  asCaller: true
})

/** Adds funds to any account: only for callers with the authrole `admin`. */
export const mint = Contract.make(Uris.mint, {
  args: { account: Id, amount: Amount },
  result: Account,
  errors: [NoSuchAccount, NotAdmin],
  description: "Adds an amount to any account; only for the admin authrole.",
  transactional: true,
  asCaller: true
})

/**
 * One transaction, run again from the start after a serialization failure or deadlock; `from` must
 * be the caller's account. The handler opens it (`Idempotency.transaction`, through
 * `Transaction.retrying`) after checking `from != to`, so a call rejected by that check sends no
 * statement; `transactional: { retries: 5 }` would open it before the handler runs.
 *
 * With `idempotency_key`, a repeated call with the same key returns the first call's result (or
 * typed error) without moving money again, for `IDEMPOTENCY_RETENTION`; the same key with other
 * arguments is `invalid_argument`. Keys are the caller's own.
 */
export const transfer = Contract.make(Uris.transfer, {
  args: { from: Id, to: Id, amount: Amount, idempotency_key: Schema.optionalKey(IdempotencyKey) },
  result: TransferResult,
  errors: [NoSuchAccount, InsufficientFunds, InvalidArgument],
  description: "Moves an amount from one of the caller's accounts to another account in one transaction; publishes on_transfer to the payer after COMMIT.",
  asCaller: true
})

/** With `receive_progress`: every transfer as one progressive result, then `{ count }`. */
export const history = Contract.streaming(Uris.history, {
  args: { account: Id, limit: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))) },
  result: HistoryResult,
  progress: Transfer,
  errors: [NoSuchAccount, InvalidArgument],
  description: "An account's transfers, oldest first: streamed one per progressive result with receive_progress.",
  transactional: true,
  asCaller: true
})

/** Every committed transfer, to its payer only (`eligible_authid`). */
export const onTransfer = Contract.topic(Uris.onTransfer, {
  payload: Transfer,
  description: "A transfer, published to its payer once its transaction has committed."
})

/** Every balance change (the accounts table's trigger writes it into the outbox), to the account's owner only. */
export const onAccountChange = Contract.topic(Uris.onAccountChange, {
  payload: AccountChange,
  description: "An account's new balance, published to its owner after every committed change."
})

/** The ledger's contracts, for reflection and typed clients. */
export const procedures = [openAccount, getAccount, transfer, history, mint] as const
export const topics = [onTransfer, onAccountChange] as const
