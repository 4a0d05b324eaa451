/**
 * The `auth` section of a WebSocket transport, as Crossbar.io writes it: anonymous, and ticket,
 * wampcra and cryptosign, each `static` (principals or users in the file, secrets possibly as
 * `$ENV` references) or `dynamic` (an authenticator procedure).
 */
import type { AuthMethod, ChallengeMethodName, Grant } from "./types.js"
import {
  array,
  type Environment,
  fail,
  index,
  integer,
  isObject,
  type Json,
  key,
  type KnownNames,
  notSupported,
  object,
  oneOf,
  required,
  show,
  string
} from "./configJson.js"
import { isValidUri } from "../wamp/uri.js"

const AUTH_METHODS_NOT_SUPPORTED = ["scram", "tls", "cookie"]
const CHALLENGE_METHODS: ReadonlyArray<ChallengeMethodName> = ["ticket", "wampcra", "cryptosign"]

/**
 * Crossbar's environment substitution for secrets: a value written `$NAME` or `${NAME}` is read
 * from the environment variable NAME (unset: a configuration error naming the path).
 */
const ENV_REFERENCE = /^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})$/

const secretString = (value: unknown, path: string, env: Environment): string => {
  const text = string(value, path)
  const reference = ENV_REFERENCE.exec(text)
  if (reference === null) return text
  const name = (reference[1] ?? reference[2])!
  const found = env[name]
  return found === undefined || found === "" ? fail(path, `environment variable ${name} is not set`) : found
}

/** The principal's `role` (a role of some realm) and optional `realm` (a realm of this router). */
const parseGrant = (obj: Json, path: string, known: KnownNames): Grant => {
  const role = string(required(obj, "role", path), key(path, "role"))
  if (!known.roles.has(role)) fail(key(path, "role"), `role "${role}" is not defined in any realm of this router`)
  const realm = obj["realm"] === undefined ? undefined : string(obj["realm"], key(path, "realm"))
  if (realm !== undefined && !known.realms.has(realm)) fail(key(path, "realm"), `realm "${realm}" is not defined on this router`)
  return { role, realm }
}

const principalsOf = <A>(value: unknown, path: string, parse: (obj: unknown, path: string) => A): ReadonlyMap<string, A> => {
  if (!isObject(value)) return fail(path, `expected an object of principals by authid, got ${show(value)}`)
  const out = new Map<string, A>()
  for (const authid of Object.keys(value)) {
    if (authid === "") fail(path, "expected a non-empty authid")
    out.set(authid, parse(value[authid], key(path, authid)))
  }
  return out
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/

const parseChallengeMethod = (
  name: ChallengeMethodName,
  value: unknown,
  path: string,
  known: KnownNames,
  env: Environment
): AuthMethod => {
  const type = isObject(value) && value["type"] !== undefined ? value["type"] : "static"
  if (type === "dynamic") {
    const obj = object(value, path, ["type", "authenticator", "authenticator-realm"])
    const authenticator = string(required(obj, "authenticator", path), key(path, "authenticator"))
    if (!isValidUri(authenticator, "exact")) fail(key(path, "authenticator"), `${show(authenticator)} is not a valid procedure URI`)
    const realm = obj["authenticator-realm"] === undefined ? undefined : string(obj["authenticator-realm"], key(path, "authenticator-realm"))
    if (realm !== undefined && !known.realms.has(realm)) fail(key(path, "authenticator-realm"), `realm "${realm}" is not defined on this router`)
    return { type: name, provider: "dynamic", authenticator, authenticatorRealm: realm }
  }
  if (type !== "static") return fail(key(path, "type"), `expected "static" or "dynamic", got ${show(type)}`)
  switch (name) {
    case "ticket": {
      const obj = object(value, path, ["type", "principals"])
      const principals = principalsOf(required(obj, "principals", path), key(path, "principals"), (p, at) => {
        const principal = object(p, at, ["ticket", "role", "realm"])
        return { ...parseGrant(principal, at, known), ticket: secretString(required(principal, "ticket", at), key(at, "ticket"), env) }
      })
      return { type: "ticket", provider: "static", principals }
    }
    case "wampcra": {
      const obj = object(value, path, ["type", "users"])
      const users = principalsOf(required(obj, "users", path), key(path, "users"), (u, at) => {
        const user = object(u, at, ["secret", "role", "realm", "salt", "iterations", "keylen"])
        const salt = user["salt"] === undefined ? undefined : secretString(user["salt"], key(at, "salt"), env)
        if (salt === undefined && (user["iterations"] !== undefined || user["keylen"] !== undefined)) {
          fail(at, `"iterations" and "keylen" only apply to a salted secret (add "salt")`)
        }
        return {
          ...parseGrant(user, at, known),
          secret: secretString(required(user, "secret", at), key(at, "secret"), env),
          salt,
          iterations: integer(user["iterations"], key(at, "iterations"), 1, 10_000_000, 1000),
          keylen: integer(user["keylen"], key(at, "keylen"), 1, 1024, 32)
        }
      })
      return { type: "wampcra", provider: "static", users }
    }
    case "cryptosign": {
      const obj = object(value, path, ["type", "principals"])
      const principals = principalsOf(required(obj, "principals", path), key(path, "principals"), (p, at) => {
        const principal = object(p, at, ["authorized_keys", "role", "realm"])
        const keysPath = key(at, "authorized_keys")
        const keys = array(required(principal, "authorized_keys", at), keysPath).map((k, i) => {
          const text = secretString(k, index(keysPath, i), env)
          if (!HEX_KEY.test(text)) fail(index(keysPath, i), "expected an Ed25519 public key as 64 hexadecimal digits")
          return text.toLowerCase()
        })
        if (keys.length === 0) fail(keysPath, "expected at least one public key")
        return { ...parseGrant(principal, at, known), authorizedKeys: keys }
      })
      return { type: "cryptosign", provider: "static", principals }
    }
  }
}

export const parseAuth = (value: unknown, path: string, known: KnownNames, env: Environment): ReadonlyArray<AuthMethod> => {
  if (value === undefined) return [{ type: "anonymous", role: "anonymous" }]
  const obj = object(value, path, ["anonymous", ...CHALLENGE_METHODS, ...AUTH_METHODS_NOT_SUPPORTED])
  for (const method of AUTH_METHODS_NOT_SUPPORTED) {
    if (obj[method] !== undefined) notSupported(key(path, method), `authentication method "${method}"`)
  }
  const methods: Array<AuthMethod> = []
  // the order of the keys is the order the methods are offered in
  for (const name of Object.keys(obj)) {
    if (name === "anonymous") {
      const anonymousPath = key(path, "anonymous")
      const anonymous = object(obj["anonymous"], anonymousPath, ["type", "role", "authenticator"])
      const type = anonymous["type"] === undefined ? "static" : oneOf(anonymous["type"], key(anonymousPath, "type"), ["static", "dynamic"] as const)
      if (type === "dynamic" || anonymous["authenticator"] !== undefined) {
        notSupported(key(anonymousPath, "type"), "dynamic anonymous authentication")
      }
      const role = anonymous["role"] === undefined ? "anonymous" : string(anonymous["role"], key(anonymousPath, "role"))
      if (!known.roles.has(role)) fail(key(anonymousPath, "role"), `role "${role}" is not defined in any realm of this router`)
      methods.push({ type: "anonymous", role })
    } else {
      methods.push(parseChallengeMethod(name as ChallengeMethodName, obj[name], key(path, name), known, env))
    }
  }
  if (methods.length === 0) fail(path, "expected at least one authentication method")
  return methods
}
