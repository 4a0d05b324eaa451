/**
 * Balance changes go through the transactional outbox instead of a bare NOTIFY: the trigger writes
 * the `on_account_change` event in the changing transaction (whoever changes the row: a procedure,
 * psql, a batch job), so it is published after COMMIT even when no one listens at that moment.
 * The event goes to the account's owner only (`eligible_authid`), as migration 0004's NOTIFY did.
 * Requires the outbox's schema (`Outbox.migrations`, provided before the ledger's). The trigger
 * fires inside the posting trigger's UPDATE too (`ledger.posting` on): it reads only `NEW`, never
 * the row-level-secured tables.
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`CREATE OR REPLACE FUNCTION ledger_accounts_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.balance = NEW.balance THEN
        RETURN NULL;
      END IF;
      PERFORM wampgres_outbox_publish(
        'com.example.ledger.on_account_change',
        jsonb_build_array(jsonb_build_object('id', NEW.id, 'balance', NEW.balance)),
        '{}'::jsonb,
        jsonb_build_object('eligible_authid', jsonb_build_array(NEW.owner))
      );
      RETURN NULL;
    END
  $$`)
})
