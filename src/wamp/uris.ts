/**
 * Every error and close URI this project sends or checks for, in one place: the WAMP
 * specification's own (`wamp.error.*`, `wamp.close.*`) and the project's (`wampgres.error.*`).
 */

/** Error and close URIs defined by the WAMP specification (and Crossbar.io's common ones). */
export const Uri = {
  protocolViolation: "wamp.error.protocol_violation",
  noSuchRealm: "wamp.error.no_such_realm",
  noSuchRole: "wamp.error.no_such_role",
  noAuthMethod: "wamp.error.no_auth_method",
  authenticationFailed: "wamp.error.authentication_failed",
  invalidUri: "wamp.error.invalid_uri",
  invalidArgument: "wamp.error.invalid_argument",
  notAuthorized: "wamp.error.not_authorized",
  noSuchProcedure: "wamp.error.no_such_procedure",
  procedureAlreadyExists: "wamp.error.procedure_already_exists",
  noSuchRegistration: "wamp.error.no_such_registration",
  noSuchSubscription: "wamp.error.no_such_subscription",
  noSuchSession: "wamp.error.no_such_session",
  canceled: "wamp.error.canceled",
  timeout: "wamp.error.timeout",
  unavailable: "wamp.error.unavailable",
  runtimeError: "wamp.error.runtime_error",
  payloadSizeExceeded: "wamp.error.payload_size_exceeded",
  /** A payload could not be serialized for its receiver (Autobahn's ApplicationError.INVALID_PAYLOAD). */
  invalidPayload: "wamp.error.invalid_payload",
  closeNormal: "wamp.close.normal",
  closeRealm: "wamp.close.close_realm",
  goodbyeAndOut: "wamp.close.goodbye_and_out",
  systemShutdown: "wamp.close.system_shutdown",
  /** A session ended by wamp.session.kill* (the default reason of its GOODBYE). */
  closeKilled: "wamp.close.killed"
} as const

/** The project's own error URIs, all under `wampgres.error.`. */
export const WampgresUri = {
  /** An SQL statement failed; the caller gets only the SQLSTATE. */
  database: "wampgres.error.database",
  /** A result did not match the procedure's result Schema (typed client side). */
  invalidResult: "wampgres.error.invalid_result",
  /** The component's WAMP session failed a request (thrown by autobahn, or a protocol error). */
  session: "wampgres.error.session",
  /** A request to the router got no answer in time. */
  timeout: "wampgres.error.timeout",
  /** The component is not joined to its realm. */
  notConnected: "wampgres.error.not_connected",
  /** The first join did not happen within the join timeout. */
  joinTimeout: "wampgres.error.join_timeout",
  /** A request would pass one of the router's per-session limits (registrations, subscriptions, calls in flight). */
  limitExceeded: "wampgres.error.limit_exceeded",
  /** Reflection: no topic of that URI is declared (or the caller may not subscribe to it). */
  noSuchTopic: "wampgres.error.no_such_topic",
  /** Reflection: no error of that URI is declared (or no procedure the caller may call raises it). */
  noSuchError: "wampgres.error.no_such_error"
} as const
