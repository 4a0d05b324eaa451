/**
 * Types of the WAMP protocol that the router and the component share: serializer names, match and
 * invocation policies, and the payload shapes of calls and events.
 */

/** The WAMP serializers spoken here; order is the server's preference. */
export type SerializerName = "json" | "msgpack" | "cbor"

/** How a registration's, subscription's or permission's URI is matched (spec and Crossbar terms). */
export type MatchPolicy = "exact" | "prefix" | "wildcard"

/** The match policies, for checking a peer's `match` option. */
export const matchPolicies: ReadonlyArray<MatchPolicy> = ["exact", "prefix", "wildcard"]

/** How a dealer picks the callee of a shared registration (spec "Shared Registration"). */
export type InvokePolicy = "single" | "roundrobin" | "random" | "first" | "last"

/** The invocation policies, for checking a peer's `invoke` option and configuration. */
export const invokePolicies: ReadonlyArray<InvokePolicy> = ["single", "roundrobin", "random", "first", "last"]

/** Positional arguments of a call, result, event or error. */
export type Args = ReadonlyArray<unknown>

/** Keyword arguments of a call, result, event or error. */
export type Kwargs = Readonly<Record<string, unknown>>
