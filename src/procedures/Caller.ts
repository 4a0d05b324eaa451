/**
 * The caller's identity inside PostgreSQL. A procedure declared `asCaller: true` registers with
 * `disclose_caller`, so the router tells it who calls; every transaction its handler opens (through
 * `transactional` or `Transaction.retrying` / `Transaction.around`) then starts with one statement
 * that sets, for that transaction only (`set_config(..., true)`):
 *
 * | setting              | value                                   |
 * |----------------------|-----------------------------------------|
 * | `wampgres.authid`    | the caller's authid                     |
 * | `wampgres.authrole`  | the caller's authrole                   |
 * | `wampgres.session`   | the caller's WAMP session id            |
 * | `role`               | the PostgreSQL role mapped from the authrole, when the group maps roles (`SET LOCAL ROLE`) |
 *
 * Read them in SQL with `current_setting('wampgres.authid', true)` (row-level security policies,
 * defaults, triggers). They end with the transaction (COMMIT or ROLLBACK), so nothing survives into
 * the next call on the same pooled connection; statements a handler runs outside a transaction see
 * no identity at all (an empty setting), which policies treat as nobody.
 *
 * Role mapping is per group (`Group.make(name, procedures, { roles: { user: "ledger_user" } })`):
 * a caller whose authrole the map does not name is refused with `wamp.error.not_authorized` before
 * any statement runs. The service's role must be a member of every mapped role.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { type InvocationRequest, WampError, wampError } from "../layers/wamp/Protocol.js"
import { Uri } from "../wamp/uris.js"
import { ahead } from "./Ahead.js"

/** The transaction-local settings (names) the caller's identity is kept in. */
export const Settings = {
  authid: "wampgres.authid",
  authrole: "wampgres.authrole",
  session: "wampgres.session"
} as const

/** WAMP authrole → PostgreSQL role its calls run as. */
export type RoleMap = Readonly<Record<string, string>>

export interface Identity {
  readonly authid: string
  readonly authrole: string
  readonly session: number
  /** The PostgreSQL role to switch to, when the group maps roles. */
  readonly role: string | undefined
}

/** The identity of the call being served (none outside `asCaller` procedures). */
export class Caller extends Context.Reference<Identity | undefined>("wampgres/procedures/Caller", {
  defaultValue: () => undefined
}) {}

/**
 * The identity of an invocation, or the error its caller gets: not disclosed (a router that ignores
 * `disclose_caller`), or an authrole the role map does not name.
 */
export const identify = (call: InvocationRequest, roles: RoleMap | undefined): Identity | WampError => {
  const { caller, callerAuthid, callerAuthrole } = call
  if (caller === undefined || callerAuthid === undefined || callerAuthrole === undefined) {
    return wampError(Uri.notAuthorized, `${call.procedure} runs as its caller, and the router did not disclose the caller`)
  }
  if (roles === undefined) return { authid: callerAuthid, authrole: callerAuthrole, session: caller, role: undefined }
  const role = Object.hasOwn(roles, callerAuthrole) ? roles[callerAuthrole] : undefined
  if (role === undefined) {
    return wampError(Uri.notAuthorized, `role "${callerAuthrole}" may not call ${call.procedure}`)
  }
  return { authid: callerAuthid, authrole: callerAuthrole, session: caller, role }
}

/** Runs `effect` as the invocation's caller, or fails with the refusal (nothing else runs then). */
export const provide = <A, R>(
  call: InvocationRequest,
  roles: RoleMap | undefined,
  effect: Effect.Effect<A, WampError, R>
): Effect.Effect<A, WampError, R> => {
  const identity = identify(call, roles)
  return identity instanceof WampError ? Effect.fail(identity) : Effect.provideService(effect, Caller, identity)
}

/**
 * Sets the current caller's identity in the current transaction (one statement; nothing when there
 * is no caller). `Transaction` runs it right after BEGIN.
 */
export const apply: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  Effect.service(Caller),
  (identity) =>
    identity === undefined ? Effect.void : Effect.flatMap(SqlClient.SqlClient, (sql) =>
      // sent ahead: the settings travel with the transaction's first statement, no round trip of their own
      ahead(
        identity.role === undefined
          ? sql`SELECT set_config('wampgres.authid', ${identity.authid}, true), set_config('wampgres.authrole', ${identity.authrole}, true), set_config('wampgres.session', ${
            String(identity.session)
          }, true)`
          : sql`SELECT set_config('wampgres.authid', ${identity.authid}, true), set_config('wampgres.authrole', ${identity.authrole}, true), set_config('wampgres.session', ${
            String(identity.session)
          }, true), set_config('role', ${identity.role}, true)`
      ))
)
