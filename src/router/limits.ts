/**
 * The router's limits: their defaults, the Origin check of WebSocket upgrades, and which HTTP
 * headers of a connection the meta API may show to other sessions.
 */
import type { RealmOptions } from "./types.js"

/** Defaults of the transport limits (WebSocket service options and the endpoint). */
export const websocketLimitDefaults = {
  /** WebSocket connections per transport. */
  maxConnections: 1000,
  /** ms until WELCOME (Crossbar's own default is 0, no limit; its production example uses 2500). */
  openHandshakeTimeout: 10_000,
  /** ms a caller that does not read may hold back a callee streaming progressive results to it. */
  slowCallerTimeout: 1000,
  allowNullOrigin: false
} as const

/** Defaults of the realm options. */
export const realmDefaults: RealmOptions = {
  enableMetaApi: true,
  maxRegistrationsPerSession: 1000,
  maxSubscriptionsPerSession: 1000,
  maxCallsInFlightPerSession: 1000
}

/** The realm options with every left-out one at its default. */
export const realmOptions = (options: Partial<RealmOptions> | undefined): RealmOptions =>
  options === undefined ? realmDefaults : { ...realmDefaults, ...options }

/**
 * A check of the Origin header of a WebSocket upgrade against `allowed_origins` patterns (`*`
 * matches any run of characters, as in Crossbar). Origins compare case-insensitively. A request
 * without an Origin header (not a browser) passes: the check protects browsers' users from pages
 * of other sites, which always send one.
 */
export const originCheck = (
  patterns: ReadonlyArray<string> | undefined,
  allowNull: boolean
): ((origin: string | undefined) => boolean) => {
  if (patterns === undefined || patterns.includes("*")) return () => true
  const regexes = patterns.map((p) =>
    new RegExp(`^${p.toLowerCase().split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "s")
  )
  return (origin) => {
    if (origin === undefined) return true
    const o = origin.toLowerCase()
    if (o === "null") return allowNull
    // one origin, never a list (repeated Origin headers arrive joined with ", ")
    if (/[\s,]/.test(o)) return false
    return regexes.some((r) => r.test(o))
  }
}

/**
 * Request headers of a WebSocket connection that other sessions may see through the meta API
 * (`wamp.session.get`, `wamp.session.on_join`). Everything else stays private: cookies,
 * authorization and proxy credentials, forwarding headers and whatever custom header a client
 * or proxy adds.
 */
const PUBLIC_HEADERS: ReadonlyArray<string> = ["host", "origin", "user-agent", "sec-websocket-protocol", "sec-websocket-version"]

/** The public subset of a request's headers (Node gives their names in lower case). */
export const publicHeaders = (headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const name of PUBLIC_HEADERS) {
    const value = headers[name]
    if (typeof value === "string") out[name] = value
  }
  return out
}
