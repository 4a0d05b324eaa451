/**
 * Transfers between two different accounts. One index per side, ordered by id, so an account's
 * history is a merge of two index scans that streams from the first row (no sort of the whole set).
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE ledger_transfers (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_account bigint      NOT NULL REFERENCES ledger_accounts (id),
    to_account   bigint      NOT NULL REFERENCES ledger_accounts (id),
    amount       bigint      NOT NULL CHECK (amount > 0),
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (from_account <> to_account)
  )`
  yield* sql`CREATE INDEX ledger_transfers_from ON ledger_transfers (from_account, id)`
  yield* sql`CREATE INDEX ledger_transfers_to ON ledger_transfers (to_account, id)`
})
