/**
 * The ledger's types: what callers send and receive (wire Schemas), what PostgreSQL returns (row
 * Schemas, decoding `bigint` and `timestamptz` columns), and its typed errors with their WAMP URIs.
 */
import * as Schema from "effect/Schema"
import * as Rows from "../Rows.js"
import { Uri } from "../../wamp/uris.js"

export const Uris = {
  openAccount: "com.example.ledger.open_account",
  getAccount: "com.example.ledger.get_account",
  transfer: "com.example.ledger.transfer",
  history: "com.example.ledger.history",
  mint: "com.example.ledger.mint",
  onTransfer: "com.example.ledger.on_transfer",
  onAccountChange: "com.example.ledger.on_account_change"
} as const

/** The NOTIFY channel the accounts trigger sends on (migration 0003). */
export const accountsChannel = "ledger_accounts"

/** The WAMP authrole that may mint funds (and sees every account: row-level security, migration 0004). */
export const adminRole = "admin"

/** Account and transfer ids, amounts, balances: safe integers on the wire, `bigint` in the table. */
export const Id = Schema.Int
export const Amount = Schema.Int.check(Schema.isGreaterThan(0))
export const Balance = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
/** A caller-chosen key that makes a call idempotent (e.g. a UUID); see `Idempotency.ts`. */
export const IdempotencyKey = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200))
export const Owner = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(100))

/** An account as callers see it. */
export const Account = Schema.Struct({ id: Id, owner: Schema.String, balance: Schema.Int })
export type Account = typeof Account.Type

/** A row of `ledger_accounts`. */
export const AccountRow = Schema.Struct({ id: Rows.Int64, owner: Schema.String, balance: Rows.Int64 })

/** A transfer as callers and subscribers see it; `at` is an ISO 8601 string on the wire. */
export const Transfer = Schema.Struct({
  id: Id,
  from: Id,
  to: Id,
  amount: Schema.Int,
  at: Schema.DateFromString
})
export type Transfer = typeof Transfer.Type

/** A row of `ledger_transfers`, selected with columns aliased to `from` and `to`. */
export const TransferRow = Schema.Struct({
  id: Rows.Int64,
  from: Rows.Int64,
  to: Rows.Int64,
  amount: Rows.Int64,
  at: Rows.Timestamp
})

/** The payer's balance only: the payee's account belongs to someone else. */
export const TransferResult = Schema.Struct({ id: Id, from_balance: Schema.Int })

/** `history` without progressive results: the transfers at once; with them, only the count at the end. */
export const HistoryResult = Schema.Union([
  Schema.Struct({ count: Schema.Int, transfers: Schema.Array(Transfer) }),
  Schema.Struct({ count: Schema.Int })
])

/** Payload of `on_account_change`, sent to the account's owner only. */
export const AccountChange = Schema.Struct({ id: Id, balance: Schema.Int })

/** The NOTIFY payload of the accounts trigger (migration 0004): the change and the owner to send it to. */
export const AccountNotification = Schema.Struct({ id: Id, balance: Schema.Int, owner: Schema.String })

export class DuplicateOwner extends Schema.TaggedError<DuplicateOwner>()("DuplicateOwner", {
  owner: Schema.String
}) {
  static readonly uri = "com.example.ledger.error.duplicate_owner"
  override get message() {
    return `an account of ${this.owner} exists`
  }
}

export class NoSuchAccount extends Schema.TaggedError<NoSuchAccount>()("NoSuchAccount", {
  id: Schema.Int
}) {
  static readonly uri = "com.example.ledger.error.no_such_account"
  override get message() {
    return `no account ${this.id}`
  }
}

export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  account: Schema.Int,
  amount: Schema.Int
}) {
  static readonly uri = "com.example.ledger.error.insufficient_funds"
  override get message() {
    return `account ${this.account} cannot pay ${this.amount}`
  }
}

/** Minting by a caller whose authrole is not `adminRole`. */
export class NotAdmin extends Schema.TaggedError<NotAdmin>()("NotAdmin", {
  authrole: Schema.String
}) {
  static readonly uri = Uri.notAuthorized
  override get message() {
    return `role "${this.authrole}" may not mint funds`
  }
}

/** Arguments that pass their field Schemas but not the procedure's rules (e.g. `from == to`). */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  message: Schema.String
}) {
  static readonly uri = Uri.invalidArgument
}
