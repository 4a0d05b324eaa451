/**
 * Static authorization of a realm's roles, after Crossbar's `RouterRoleStaticAuth`: a role's
 * permissions sit in a pattern map and the most specific permission matching a URI decides
 * (exact, else longest prefix, else the wildcard of highest precedence). No matching permission,
 * or an unknown role, denies. `wamp.*` meta API URIs are authorized like any other URI.
 */
import type { Action, Permission, Realm } from "./types.js"
import { PatternMap } from "../wamp/uri.js"

/** The outcome of an authorization: may the action proceed, and is the caller/publisher disclosed? */
export interface Decision {
  readonly allow: boolean
  readonly disclose: boolean
}

// Shared, frozen decisions: authorizing allocates nothing.
export const DENY: Decision = Object.freeze({ allow: false, disclose: false })
export const ALLOW: Decision = Object.freeze({ allow: true, disclose: false })
const ALLOW_DISCLOSE: Decision = Object.freeze({ allow: true, disclose: true })

/** One of the shared decisions. */
export const decision = (allow: boolean, disclose: boolean): Decision =>
  allow ? (disclose ? ALLOW_DISCLOSE : ALLOW) : DENY

/**
 * A dynamic authorizer's answer, as Crossbar reads it: `true`/`false`, or `{allow, disclose,
 * cache}`. Anything else denies (undefined: the answer was not understood).
 */
export const dynamicDecision = (answer: unknown): { readonly decision: Decision; readonly cache: boolean } | undefined => {
  if (typeof answer === "boolean") return { decision: decision(answer, false), cache: false }
  if (typeof answer !== "object" || answer === null || Array.isArray(answer)) return undefined
  const { allow, cache, disclose } = answer as Record<string, unknown>
  if (typeof allow !== "boolean") return undefined
  if (disclose !== undefined && disclose !== null && typeof disclose !== "boolean") return undefined
  if (cache !== undefined && cache !== null && typeof cache !== "boolean") return undefined
  return { decision: decision(allow, disclose === true), cache: cache === true }
}

type Decisions = { readonly [A in Action]: Decision }

const decisionsOf = (permission: Permission): Decisions => {
  const decide = (allow: boolean, disclose: boolean): Decision =>
    allow ? (disclose ? ALLOW_DISCLOSE : ALLOW) : DENY
  return {
    // disclose applies to the actions whose identity it reveals: caller for call, publisher for publish
    call: decide(permission.allow.call, permission.disclose.caller),
    register: decide(permission.allow.register, false),
    publish: decide(permission.allow.publish, permission.disclose.publisher),
    subscribe: decide(permission.allow.subscribe, false)
  }
}

interface RoleState {
  /** The role's dynamic authorizer procedure, when it has one (its permissions are then empty). */
  readonly authorizer: string | undefined
  readonly permissions: PatternMap<Decisions>
  /** Only roles with prefix or wildcard permissions cache: exact lookups are already one Map.get. */
  readonly cache: { readonly [A in Action]: Map<string, Decision> } | undefined
}

export interface RealmAuthorizerOptions {
  /** Most URIs remembered per (role, action); the oldest is forgotten first. Default 4096. */
  readonly cacheSize?: number
}

/** Authorizes the sessions of one realm by their role. Immutable once built from the config. */
export class RealmAuthorizer {
  readonly realm: string
  readonly #roles = new Map<string, RoleState>()
  readonly #cacheSize: number

  constructor(realm: Realm, options?: RealmAuthorizerOptions) {
    this.realm = realm.name
    this.#cacheSize = Math.max(1, options?.cacheSize ?? 4096)
    for (const role of realm.roles) {
      const permissions = new PatternMap<Decisions>()
      let patterns = false
      // as in Crossbar, a later permission for the same (uri, match) replaces an earlier one
      for (const permission of role.permissions) {
        permissions.set(permission.uri, permission.match, decisionsOf(permission))
        if (permission.match !== "exact") patterns = true
      }
      this.#roles.set(role.name, {
        authorizer: role.authorizer,
        permissions,
        cache: patterns ? { call: new Map(), register: new Map(), publish: new Map(), subscribe: new Map() } : undefined
      })
    }
  }

  /** Is `role` defined on this realm? (Authentication should refuse a session with an unknown role.) */
  hasRole(role: string): boolean {
    return this.#roles.has(role)
  }

  /** The dynamic authorizer procedure of `role`, if it has one. */
  dynamicAuthorizer(role: string): string | undefined {
    return this.#roles.get(role)?.authorizer
  }

  /** May a session with `role` perform `action` on `uri`? Deny unless a permission allows it. */
  authorize(role: string, uri: string, action: Action): Decision {
    const state = this.#roles.get(role)
    if (state === undefined) return DENY
    const cache = state.cache?.[action]
    if (cache === undefined) return state.permissions.best(uri)?.value[action] ?? DENY
    const cached = cache.get(uri)
    if (cached !== undefined) return cached
    const decision = state.permissions.best(uri)?.value[action] ?? DENY
    if (cache.size >= this.#cacheSize) {
      // Map keeps insertion order: drop the oldest entry
      cache.delete(cache.keys().next().value!)
    }
    cache.set(uri, decision)
    return decision
  }
}
