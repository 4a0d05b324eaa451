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
}

export interface Realm {
  readonly name: string
  readonly roles: ReadonlyArray<Role>
}

/**
 * How sessions on a transport authenticate. Only anonymous exists today; ticket, wampcra and
 * cryptosign are further members of this union.
 */
export type AuthMethod = { readonly type: "anonymous"; readonly role: string }

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
}

export interface Endpoint {
  readonly port: number
  /** Interface to bind, e.g. "127.0.0.1"; undefined = all interfaces. */
  readonly interface: string | undefined
}

/** A service mounted on a path of a `web` transport. */
export type PathService =
  | { readonly type: "static"; readonly directory: string }
  | { readonly type: "websocket"; readonly options: WebSocketOptions }

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
