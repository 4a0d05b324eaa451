/**
 * The ledger's contracts: what a caller can rely on, with no SQL and no server code (a browser or
 * another service imports this module for typed calls). The handlers are in `./index.ts`.
 */
import * as Schema from "effect/Schema"
import * as Contract from "../Contract.js"
import {
  Account,
  Amount,
  Balance,
  DuplicateOwner,
  HistoryResult,
  Id,
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
  errors: [DuplicateOwner]
})

export const getAccount = Contract.make(Uris.getAccount, {
  args: { id: Id },
  positional: ["id"],
  result: Account,
  errors: [NoSuchAccount]
})

/**
 * One transaction, run again from the start after a serialization failure or deadlock. The handler
 * opens it (`Transaction.retrying`) after checking `from != to`, so a call rejected by that check
 * sends no statement; `transactional: { retries: 5 }` would open it before the handler runs.
 */
export const transfer = Contract.make(Uris.transfer, {
  args: { from: Id, to: Id, amount: Amount },
  result: TransferResult,
  errors: [NoSuchAccount, InsufficientFunds, InvalidArgument]
})

/** With `receive_progress`: every transfer as one progressive result, then `{ count }`. */
export const history = Contract.streaming(Uris.history, {
  args: { account: Id, limit: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))) },
  result: HistoryResult,
  progress: Transfer,
  errors: [NoSuchAccount, InvalidArgument]
})
