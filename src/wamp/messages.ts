/**
 * WAMP message codes and shape checks for the messages a router receives. Messages stay plain
 * arrays (as decoded) so payloads pass through untouched.
 */
import { isValidUri } from "./uri.js"

/** Message type codes (WAMP spec, section "Message Codes and Direction"). */
export const MessageType = {
  HELLO: 1,
  WELCOME: 2,
  ABORT: 3,
  CHALLENGE: 4,
  AUTHENTICATE: 5,
  GOODBYE: 6,
  ERROR: 8,
  PUBLISH: 16,
  PUBLISHED: 17,
  SUBSCRIBE: 32,
  SUBSCRIBED: 33,
  UNSUBSCRIBE: 34,
  UNSUBSCRIBED: 35,
  EVENT: 36,
  CALL: 48,
  CANCEL: 49,
  RESULT: 50,
  REGISTER: 64,
  REGISTERED: 65,
  UNREGISTER: 66,
  UNREGISTERED: 67,
  INVOCATION: 68,
  INTERRUPT: 69,
  YIELD: 70
} as const

/** A decoded WAMP message: an array whose first element is the type code. */
export type Message = Array<unknown>

/** The largest WAMP id (spec "IDs": integers in [1, 2^53]). */
export const MAX_ID = 9007199254740992

/** A WAMP id: an integer in [1, 2^53] (spec "IDs"; autobahn and wampy count request ids from 1). */
export const isId = (value: unknown): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= MAX_ID

export const isDict = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)

export const isString = (value: unknown): value is string => typeof value === "string"

/** The most entries a list in options or details may have (black- and whitelists, authmethods). */
export const MAX_LIST_LENGTH = 4096

/**
 * Option and detail values, checked before any handler reads them. The rule, as Crossbar's
 * message parser applies it: a known option of the wrong type is a protocol violation (the
 * session is aborted); a well-typed value the router does not offer (an unknown match policy, a
 * timeout beyond the longest timer) is answered by the handler with wamp.error.invalid_argument.
 * An absent value may also be written as null (some clients send null for "not set"). Unknown
 * options are ignored (forward compatibility). Lookups name only keys that Object.prototype does
 * not have, and the decoders keep "__proto__" a plain key, so an inherited value never answers.
 */
const absent = (v: unknown): boolean => v === undefined || v === null
const optionalBoolean = (v: unknown): boolean => absent(v) || typeof v === "boolean"
const optionalString = (v: unknown): boolean => absent(v) || typeof v === "string"
const optionalDict = (v: unknown): boolean => absent(v) || isDict(v)
const optionalCount = (v: unknown): boolean => absent(v) || (typeof v === "number" && Number.isInteger(v) && v >= 0)

const listOf = (v: unknown, item: (x: unknown) => boolean): boolean => {
  if (absent(v)) return true
  if (!Array.isArray(v) || v.length > MAX_LIST_LENGTH) return false
  for (let i = 0; i < v.length; i++) if (!item(v[i])) return false
  return true
}

const KNOWN_ROLES = ["caller", "callee", "publisher", "subscriber"] as const

const helloDetailsProblem = (d: Record<string, unknown>): string | undefined => {
  const roles = d["roles"]
  if (!isDict(roles)) return "HELLO.Details.roles must be a dictionary"
  for (const name of KNOWN_ROLES) {
    const role = roles[name]
    if (!optionalDict(role)) return `HELLO.Details.roles.${name} must be a dictionary`
    if (isDict(role) && !optionalDict(role["features"])) return `HELLO.Details.roles.${name}.features must be a dictionary`
  }
  if (!listOf(d["authmethods"], isString)) {
    return `HELLO.Details.authmethods must be a list of at most ${MAX_LIST_LENGTH} strings`
  }
  if (!optionalString(d["authid"])) return "HELLO.Details.authid must be a string"
  if (!optionalString(d["authrole"])) return "HELLO.Details.authrole must be a string"
  if (!optionalDict(d["authextra"])) return "HELLO.Details.authextra must be a dictionary"
  if (isDict(d["authextra"]) && !optionalString(d["authextra"]["pubkey"])) return "HELLO.Details.authextra.pubkey must be a string"
  return undefined
}

/** The longest AUTHENTICATE.Signature (a ticket, a WAMP-CRA or cryptosign signature) a router reads. */
export const MAX_SIGNATURE_LENGTH = 16_384

const authenticateProblem = (signature: string): string | undefined =>
  signature.length > MAX_SIGNATURE_LENGTH
    ? `AUTHENTICATE.Signature must be at most ${MAX_SIGNATURE_LENGTH} characters`
    : undefined

const publishOptionsProblem = (o: Record<string, unknown>): string | undefined => {
  // one named lookup per option (not a loop over names): this runs for every PUBLISH
  if (!optionalBoolean(o["acknowledge"])) return "PUBLISH.Options.acknowledge must be a boolean"
  if (!optionalBoolean(o["exclude_me"])) return "PUBLISH.Options.exclude_me must be a boolean"
  if (!optionalBoolean(o["disclose_me"])) return "PUBLISH.Options.disclose_me must be a boolean"
  if (!optionalBoolean(o["retain"])) return "PUBLISH.Options.retain must be a boolean"
  if (!listOf(o["exclude"], isId)) return idListProblem("exclude")
  if (!listOf(o["eligible"], isId)) return idListProblem("eligible")
  if (!listOf(o["exclude_authid"], isString)) return stringListProblem("exclude_authid")
  if (!listOf(o["eligible_authid"], isString)) return stringListProblem("eligible_authid")
  if (!listOf(o["exclude_authrole"], isString)) return stringListProblem("exclude_authrole")
  if (!listOf(o["eligible_authrole"], isString)) return stringListProblem("eligible_authrole")
  return undefined
}

const idListProblem = (name: string): string => `PUBLISH.Options.${name} must be a list of at most ${MAX_LIST_LENGTH} session ids`
const stringListProblem = (name: string): string => `PUBLISH.Options.${name} must be a list of at most ${MAX_LIST_LENGTH} strings`

const callOptionsProblem = (o: Record<string, unknown>): string | undefined =>
  !optionalCount(o["timeout"])
    ? "CALL.Options.timeout must be a non-negative integer (milliseconds)"
    : !optionalBoolean(o["receive_progress"])
    ? "CALL.Options.receive_progress must be a boolean"
    : !optionalBoolean(o["disclose_me"])
    ? "CALL.Options.disclose_me must be a boolean"
    : undefined

/** A short, safe rendering of a peer's value for an error message: never runs or copies it whole. */
export const describeValue = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 80 ? value.slice(0, 80) + "..." : value)
    case "number":
    case "boolean":
    case "bigint":
      return String(value)
    default:
      return value === null
        ? "null"
        : Array.isArray(value)
        ? "a list"
        : value === undefined
        ? "nothing"
        : typeof value === "object"
        ? "an object"
        : `a ${typeof value}`
  }
}

/** `args` (list) and `kwargs` (dict) at `from` and `from + 1`; kwargs requires args. */
const payloadOk = (m: Message, from: number): boolean => {
  const n = m.length
  if (n === from) return true
  if (!Array.isArray(m[from])) return false
  if (n === from + 1) return true
  return n === from + 2 && isDict(m[from + 1])
}

/**
 * Checks the shape of a message a router may receive. Returns undefined when it is well formed,
 * else a short reason for the ABORT. Types a router never receives are reported too.
 */
export const checkShape = (m: Message): string | undefined => {
  switch (m[0]) {
    case MessageType.HELLO:
      return m.length === 3 && isString(m[1]) && isDict(m[2]) ? helloDetailsProblem(m[2]) : "malformed HELLO"
    case MessageType.AUTHENTICATE:
      return m.length === 3 && isString(m[1]) && isDict(m[2]) ? authenticateProblem(m[1]) : "malformed AUTHENTICATE"
    case MessageType.ABORT:
      return m.length === 3 && isDict(m[1]) && isString(m[2]) ? undefined : "malformed ABORT"
    case MessageType.GOODBYE:
      return m.length === 3 && isDict(m[1]) && isString(m[2]) ? undefined : "malformed GOODBYE"
    case MessageType.ERROR:
      return m.length >= 5 && m.length <= 7 && isId(m[1]) && isId(m[2]) && isDict(m[3]) && isString(m[4]) &&
          payloadOk(m, 5)
        // the error URI reaches a caller as it is: it must be one (as Crossbar's parser requires)
        ? isValidUri(m[4], "exact") ? undefined : "ERROR.Error must be a valid URI"
        : "malformed ERROR"
    case MessageType.PUBLISH:
      return m.length >= 4 && m.length <= 6 && isId(m[1]) && isDict(m[2]) && isString(m[3]) && payloadOk(m, 4)
        ? publishOptionsProblem(m[2])
        : "malformed PUBLISH"
    case MessageType.SUBSCRIBE:
      return m.length === 4 && isId(m[1]) && isDict(m[2]) && isString(m[3])
        ? optionalString(m[2]["match"]) ? undefined : "SUBSCRIBE.Options.match must be a string"
        : "malformed SUBSCRIBE"
    case MessageType.UNSUBSCRIBE:
      return m.length === 3 && isId(m[1]) && isId(m[2]) ? undefined : "malformed UNSUBSCRIBE"
    case MessageType.CALL:
      return m.length >= 4 && m.length <= 6 && isId(m[1]) && isDict(m[2]) && isString(m[3]) && payloadOk(m, 4)
        ? callOptionsProblem(m[2])
        : "malformed CALL"
    case MessageType.CANCEL:
      return m.length === 3 && isId(m[1]) && isDict(m[2])
        ? optionalString(m[2]["mode"]) ? undefined : "CANCEL.Options.mode must be a string"
        : "malformed CANCEL"
    case MessageType.REGISTER:
      return m.length === 4 && isId(m[1]) && isDict(m[2]) && isString(m[3])
        ? !optionalString(m[2]["match"])
          ? "REGISTER.Options.match must be a string"
          : !optionalString(m[2]["invoke"])
          ? "REGISTER.Options.invoke must be a string"
          : !optionalBoolean(m[2]["disclose_caller"])
          ? "REGISTER.Options.disclose_caller must be a boolean"
          : undefined
        : "malformed REGISTER"
    case MessageType.UNREGISTER:
      return m.length === 3 && isId(m[1]) && isId(m[2]) ? undefined : "malformed UNREGISTER"
    case MessageType.YIELD:
      return m.length >= 3 && m.length <= 5 && isId(m[1]) && isDict(m[2]) && payloadOk(m, 3)
        ? optionalBoolean(m[2]["progress"]) ? undefined : "YIELD.Options.progress must be a boolean"
        : "malformed YIELD"
    default:
      return typeof m[0] === "number" && Number.isInteger(m[0])
        ? `message type ${m[0]} is not accepted by a router`
        : "message type is not an integer"
  }
}
