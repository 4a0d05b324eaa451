/**
 * WAMP message codes and shape checks for the messages a router receives. Messages stay plain
 * arrays (as decoded) so payloads pass through untouched.
 */

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

/** WAMP ids are integers in [0, 2^53] (0 tolerated for clients that start counting there). */
export const isId = (value: unknown): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 9007199254740992

export const isDict = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)

export const isString = (value: unknown): value is string => typeof value === "string"

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
      return m.length === 3 && isString(m[1]) && isDict(m[2]) ? undefined : "malformed HELLO"
    case MessageType.AUTHENTICATE:
      return m.length === 3 && isString(m[1]) && isDict(m[2]) ? undefined : "malformed AUTHENTICATE"
    case MessageType.ABORT:
      return m.length === 3 && isDict(m[1]) && isString(m[2]) ? undefined : "malformed ABORT"
    case MessageType.GOODBYE:
      return m.length === 3 && isDict(m[1]) && isString(m[2]) ? undefined : "malformed GOODBYE"
    case MessageType.ERROR:
      return m.length >= 5 && m.length <= 7 && isId(m[1]) && isId(m[2]) && isDict(m[3]) && isString(m[4]) &&
          payloadOk(m, 5)
        ? undefined
        : "malformed ERROR"
    case MessageType.PUBLISH:
      return m.length >= 4 && m.length <= 6 && isId(m[1]) && isDict(m[2]) && isString(m[3]) && payloadOk(m, 4)
        ? undefined
        : "malformed PUBLISH"
    case MessageType.SUBSCRIBE:
      return m.length === 4 && isId(m[1]) && isDict(m[2]) && isString(m[3]) ? undefined : "malformed SUBSCRIBE"
    case MessageType.UNSUBSCRIBE:
      return m.length === 3 && isId(m[1]) && isId(m[2]) ? undefined : "malformed UNSUBSCRIBE"
    case MessageType.CALL:
      return m.length >= 4 && m.length <= 6 && isId(m[1]) && isDict(m[2]) && isString(m[3]) && payloadOk(m, 4)
        ? undefined
        : "malformed CALL"
    case MessageType.CANCEL:
      return m.length === 3 && isId(m[1]) && isDict(m[2]) ? undefined : "malformed CANCEL"
    case MessageType.REGISTER:
      return m.length === 4 && isId(m[1]) && isDict(m[2]) && isString(m[3]) ? undefined : "malformed REGISTER"
    case MessageType.UNREGISTER:
      return m.length === 3 && isId(m[1]) && isId(m[2]) ? undefined : "malformed UNREGISTER"
    case MessageType.YIELD:
      return m.length >= 3 && m.length <= 5 && isId(m[1]) && isDict(m[2]) && payloadOk(m, 3)
        ? undefined
        : "malformed YIELD"
    default:
      return typeof m[0] === "number" ? `message type ${m[0]} is not accepted by a router` : "message type is not an integer"
  }
}
