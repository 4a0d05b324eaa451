/**
 * The router's normalized configuration: what a Crossbar.io node configuration (version 2) says
 * about router workers, after validation. `config.ts` produces it; the rest of the router reads it.
 */

import type { MatchPolicy, SerializerName } from "../wamp/types.js"

export type { MatchPolicy, SerializerName }

/** The four actions a role may be allowed on a URI. */
export type Action = "call" | "register" | "publish" | "subscribe"

/** One permission of a role, as Crossbar's static authorizer reads it. */
export interface Permission {
  readonly uri: string
  readonly match: MatchPolicy
  readonly allow: { readonly call: boolean; readonly register: boolean; readonly publish: boolean; readonly subscribe: boolean }
  readonly disclose: { readonly caller: boolean; readonly publisher: boolean }
}

export interface Role {
  readonly name: string
  readonly permissions: ReadonlyArray<Permission>
  /**
   * Crossbar's dynamic authorization: a procedure the router calls with (session details, uri,
   * action, options) for every action of this role's sessions, whose answer (a boolean, or
   * `{allow, disclose, cache}`) decides it. The static permissions are not consulted then.
   */
  readonly authorizer?: string | undefined
}

/**
 * A realm's options (Crossbar's realm `options`): the meta API switch and the limits every session
 * of the realm gets. Left out, each takes its default (`realmDefaults` in limits.ts).
 */
export interface RealmOptions {
  /** Crossbar's `enable_meta_api`: false answers meta procedures with no_such_procedure and publishes no meta events. */
  readonly enableMetaApi: boolean
  /** `max_registrations_per_session`: a further REGISTER gets an ERROR (the session stays). */
  readonly maxRegistrationsPerSession: number
  /** `max_subscriptions_per_session`: a further SUBSCRIBE gets an ERROR (the session stays). */
  readonly maxSubscriptionsPerSession: number
  /** `max_calls_in_flight_per_session`: a further CALL while this many wait for their result gets an ERROR. */
  readonly maxCallsInFlightPerSession: number
}

export interface Realm {
  readonly name: string
  readonly roles: ReadonlyArray<Role>
  /** The config parser gives every option; programmatic configurations may leave any out. */
  readonly options?: Partial<RealmOptions>
}

/** What a principal of a static authentication method is admitted as. */
export interface Grant {
  readonly role: string
  /** The only realm the principal may join; undefined: any realm of the router. */
  readonly realm: string | undefined
}

/** A WAMP-CRA user: its secret, and the PBKDF2 parameters when the secret is salted. */
export interface CraUser extends Grant {
  readonly secret: string
  readonly salt: string | undefined
  readonly iterations: number
  readonly keylen: number
}

/** The challenge-response methods. */
export type ChallengeMethodName = "ticket" | "wampcra" | "cryptosign"

/**
 * How sessions on a transport authenticate, as a Crossbar transport's `auth` section says: static
 * principals per method, or a dynamic authenticator procedure (called with realm, authid, details).
 */
export type AuthMethod =
  | { readonly type: "anonymous"; readonly role: string }
  | { readonly type: "ticket"; readonly provider: "static"; readonly principals: ReadonlyMap<string, Grant & { readonly ticket: string }> }
  | { readonly type: "wampcra"; readonly provider: "static"; readonly users: ReadonlyMap<string, CraUser> }
  | {
    readonly type: "cryptosign"
    readonly provider: "static"
    /** Public keys (lower-case hex, 32 bytes) per authid. */
    readonly principals: ReadonlyMap<string, Grant & { readonly authorizedKeys: ReadonlyArray<string> }>
  }
  | {
    readonly type: ChallengeMethodName
    readonly provider: "dynamic"
    readonly authenticator: string
    /** The realm the authenticator is registered on; undefined: the realm the client asks for. */
    readonly authenticatorRealm: string | undefined
  }

export interface WebSocketOptions {
  readonly serializers: ReadonlyArray<SerializerName>
  /** Bytes; a larger message aborts that session. Crossbar's `max_message_size`, default 1 MiB. */
  readonly maxMessageSize: number
  /** Milliseconds between pings (0 = off). Crossbar's `auto_ping_interval`. */
  readonly autoPingInterval: number
  /** Milliseconds to wait for a pong before dropping the peer. Crossbar's `auto_ping_timeout`. */
  readonly autoPingTimeout: number
  /** Authentication methods in the order offered; without `auth` in the config: anonymous. */
  readonly auth: ReadonlyArray<AuthMethod>
  // The limits below are filled in by the config parser; programmatic configurations may leave
  // them out and get the defaults of `websocketLimitDefaults` (limits.ts).
  /**
   * Milliseconds from the WebSocket upgrade until the WAMP session is established (WELCOME); a
   * connection without one by then is closed. 0 = no limit. Crossbar's `open_handshake_timeout`.
   */
  readonly openHandshakeTimeout?: number
  /**
   * Origins a WebSocket upgrade may come from, with `*` wildcards (Crossbar's `allowed_origins`);
   * any other Origin header is refused with HTTP 403. Undefined = every origin.
   */
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
  /** Whether `Origin: null` (sandboxed or file pages) passes `allowedOrigins`. Crossbar's `allow_null_origin`. */
  readonly allowNullOrigin?: boolean
  /**
   * Milliseconds a caller that does not read its progressive results may hold back the callee
   * streaming them (and so the callee's other callers); then its call is canceled.
   */
  readonly slowCallerTimeout?: number
}

export interface Endpoint {
  readonly port: number
  /** Interface to bind, e.g. "127.0.0.1"; undefined = all interfaces. */
  readonly interface: string | undefined
  /**
   * WebSocket connections the transport holds at once; a further upgrade is refused with HTTP
   * 503. Filled in by the config parser; left out: `websocketLimitDefaults.maxConnections`.
   */
  readonly maxConnections?: number
}

/** A service mounted on a path of a `web` transport. */
export type PathService =
  | { readonly type: "static"; readonly directory: string }
  | { readonly type: "websocket"; readonly options: WebSocketOptions }
  /** The router's metrics in Prometheus's text format. */
  | { readonly type: "metrics" }

export type Transport =
  | {
    readonly type: "web"
    readonly endpoint: Endpoint
    /** Keys are normalized URL paths: "/" and "/ws" (Crossbar writes "ws" for "/ws"). Static directories are absolute. */
    readonly paths: ReadonlyMap<string, PathService>
  }
  | { readonly type: "websocket"; readonly endpoint: Endpoint; readonly options: WebSocketOptions }

export interface RouterConfig {
  readonly realms: ReadonlyArray<Realm>
  readonly transports: ReadonlyArray<Transport>
}
