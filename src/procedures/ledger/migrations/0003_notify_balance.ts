/**
 * Every new account and every balance change sends NOTIFY on channel `ledger_accounts` with
 * `{"id": ..., "balance": ...}`, whoever made the change (a procedure, psql, a batch job).
 * PostgreSQL delivers notifications at COMMIT only, so a rolled-back change notifies nobody.
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`CREATE FUNCTION ledger_accounts_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.balance = NEW.balance THEN
        RETURN NULL;
      END IF;
      PERFORM pg_notify('ledger_accounts', json_build_object('id', NEW.id, 'balance', NEW.balance)::text);
      RETURN NULL;
    END
  $$`)
  yield* sql`CREATE TRIGGER ledger_accounts_notify
    AFTER INSERT OR UPDATE OF balance ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_accounts_notify()`
})
