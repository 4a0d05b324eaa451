/**
 * The ledger's contracts: what a caller can rely on, with no SQL and no server code (a browser or
 * another service imports this module for typed calls). The handlers are in `./index.ts`.
 */
import * as Schema from "effect/Schema"
import * as Contract from "../Contract.js"
import {
  Account,
  Amount,
  HistoryResult,
  Id,
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
  transactional: true,
  asCaller: true
})

export const getAccount = Contract.make(Uris.getAccount, {
  args: { id: Id },
  positional: ["id"],
  result: Account,
  errors: [NoSuchAccount],
  transactional: true,
  asCaller: true
})

/** Adds funds to any account: only for callers with the authrole `admin`. */
export const mint = Contract.make(Uris.mint, {
  args: { account: Id, amount: Amount },
  result: Account,
  errors: [NoSuchAccount, NotAdmin],
  transactional: true,
  asCaller: true
})

/**
 * One transaction, run again from the start after a serialization failure or deadlock. The handler
 * `from` must be the caller's account. The handler opens it (`Transaction.retrying`) after checking `from != to`, so a call rejected by that check
 * sends no statement; `transactional: { retries: 5 }` would open it before the handler runs.
 */
export const transfer = Contract.make(Uris.transfer, {
  args: { from: Id, to: Id, amount: Amount },
  result: TransferResult,
  errors: [NoSuchAccount, InsufficientFunds, InvalidArgument],
  asCaller: true
})

/** With `receive_progress`: every transfer as one progressive result, then `{ count }`. */
export const history = Contract.streaming(Uris.history, {
  args: { account: Id, limit: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))) },
  result: HistoryResult,
  progress: Transfer,
  errors: [NoSuchAccount, InvalidArgument],
  transactional: true,
  asCaller: true
})
