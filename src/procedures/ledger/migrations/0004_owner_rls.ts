/**
 * Accounts belong to their owner, the caller's authid, and row-level security makes PostgreSQL
 * enforce it (docs/ledger.md): a caller sees its own accounts and the transfers that touch them,
 * opens accounts for itself with a zero balance, and pays only from its own accounts. Balances
 * change only through the posting trigger (a transfer) or for the `admin` authrole (minting), who
 * also sees every account and transfer.
 *
 * FORCE: the service's role owns these tables, and owners bypass policies unless forced.
 * The caller comes from the transaction-local settings `wampgres.authid` / `wampgres.authrole`
 * (src/procedures/Caller.ts); empty or unset is nobody.
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // An owner may hold several accounts.
  yield* sql`ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_owner_key`
  yield* sql`CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner)`
  // Accounts open empty; funds come from transfers or minting.
  yield* sql`ALTER TABLE ledger_accounts ALTER COLUMN balance SET DEFAULT 0`

  yield* sql.unsafe(`CREATE FUNCTION ledger_caller() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('wampgres.authid', true), '') $$`)
  yield* sql.unsafe(`CREATE FUNCTION ledger_is_admin() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('wampgres.authrole', true) = 'admin', false) $$`)
  // Set by the posting trigger only, for the two rows of one transfer.
  yield* sql.unsafe(`CREATE FUNCTION ledger_posting() RETURNS boolean LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('ledger.posting', true) = 'on', false) $$`)

  yield* sql`ALTER TABLE ledger_accounts ENABLE ROW LEVEL SECURITY`
  yield* sql`ALTER TABLE ledger_accounts FORCE ROW LEVEL SECURITY`
  yield* sql`CREATE POLICY ledger_accounts_own ON ledger_accounts FOR SELECT USING (owner = ledger_caller())`
  yield* sql`CREATE POLICY ledger_accounts_open ON ledger_accounts FOR INSERT
    WITH CHECK (owner = ledger_caller() AND balance = 0)`
  yield* sql`CREATE POLICY ledger_accounts_admin ON ledger_accounts FOR ALL USING (ledger_is_admin())`
  yield* sql`CREATE POLICY ledger_accounts_posting_select ON ledger_accounts FOR SELECT USING (ledger_posting())`
  yield* sql`CREATE POLICY ledger_accounts_posting_update ON ledger_accounts FOR UPDATE USING (ledger_posting())`

  // Each transfer names both owners, so its policy is a comparison per row, not a lookup: reading a
  // history of 100k rows costs what it did without row-level security. Filled by a trigger from the
  // accounts themselves (never from the INSERT), before the policy checks the row.
  yield* sql`ALTER TABLE ledger_transfers ADD COLUMN from_owner text, ADD COLUMN to_owner text`
  yield* sql`UPDATE ledger_transfers t SET from_owner = f.owner, to_owner = o.owner
             FROM ledger_accounts f, ledger_accounts o WHERE f.id = t.from_account AND o.id = t.to_account`
  yield* sql`ALTER TABLE ledger_transfers ALTER COLUMN from_owner SET NOT NULL, ALTER COLUMN to_owner SET NOT NULL`
  yield* sql.unsafe(`CREATE FUNCTION ledger_transfers_owners() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM set_config('ledger.posting', 'on', true);
      NEW.from_owner := (SELECT owner FROM ledger_accounts WHERE id = NEW.from_account);
      NEW.to_owner := (SELECT owner FROM ledger_accounts WHERE id = NEW.to_account);
      PERFORM set_config('ledger.posting', '', true);
      RETURN NEW;
    END
  $$`)
  yield* sql`CREATE TRIGGER ledger_transfers_owners BEFORE INSERT ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_transfers_owners()`

  yield* sql`ALTER TABLE ledger_transfers ENABLE ROW LEVEL SECURITY`
  yield* sql`ALTER TABLE ledger_transfers FORCE ROW LEVEL SECURITY`
  yield* sql`CREATE POLICY ledger_transfers_own ON ledger_transfers FOR SELECT
    USING (from_owner = ledger_caller() OR to_owner = ledger_caller() OR ledger_is_admin())`
  // Checked after the owners trigger and before the constraints: an account that is not the
  // caller's and one that does not exist are refused alike.
  yield* sql`CREATE POLICY ledger_transfers_pay ON ledger_transfers FOR INSERT WITH CHECK (from_owner = ledger_caller())`

  // A transfer posts itself: both rows locked in id order (opposite transfers wait, never deadlock;
  // NO KEY UPDATE, as the UPDATE itself, leaves the foreign key checks' KEY SHARE locks alone),
  // then debited and credited in one UPDATE. The balance CHECK rejects an overdraft.
  yield* sql.unsafe(`CREATE FUNCTION ledger_transfers_post() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM set_config('ledger.posting', 'on', true);
      PERFORM 1 FROM ledger_accounts WHERE id IN (NEW.from_account, NEW.to_account) ORDER BY id FOR NO KEY UPDATE;
      UPDATE ledger_accounts
        SET balance = balance + CASE WHEN id = NEW.from_account THEN -NEW.amount ELSE NEW.amount END
        WHERE id IN (NEW.from_account, NEW.to_account);
      PERFORM set_config('ledger.posting', '', true);
      RETURN NULL;
    END
  $$`)
  yield* sql`CREATE TRIGGER ledger_transfers_post AFTER INSERT ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_transfers_post()`

  // on_account_change goes to the owner only: the notification names it (see NotifyBridge mapping).
  yield* sql.unsafe(`CREATE OR REPLACE FUNCTION ledger_accounts_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.balance = NEW.balance THEN
        RETURN NULL;
      END IF;
      PERFORM pg_notify('ledger_accounts',
        json_build_object('id', NEW.id, 'balance', NEW.balance, 'owner', NEW.owner)::text);
      RETURN NULL;
    END
  $$`)
})
