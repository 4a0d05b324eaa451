/** Accounts: one owner each, balances never negative (the CHECK is the last line of defence). */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"

export default Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`CREATE TABLE ledger_accounts (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner   text   NOT NULL CONSTRAINT ledger_accounts_owner_key UNIQUE
                   CONSTRAINT ledger_accounts_owner_length CHECK (char_length(owner) BETWEEN 1 AND 100),
    balance bigint NOT NULL CONSTRAINT ledger_accounts_balance_nonnegative CHECK (balance >= 0)
  )`)
