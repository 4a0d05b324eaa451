/**
 * The component's WAMP serializers for autobahn, over the protocol module's codecs (`src/wamp/codecs`).
 *
 * - JSON with the spec's binary convention (a byte array travels as "\u0000" + base64): autobahn's
 *   own JSON serializer has none, so a `Uint8Array` argument or result would arrive as a string or
 *   leave as `{"type":"Buffer","data":[...]}`.
 * - MessagePack through `msgpackr`: autobahn's msgpack5 made a msgpack call cost the component about
 *   twice the CPU of a JSON one, and its garbage pushed a streamed history's peak RSS up.
 *
 * Drop-in autobahn serializers: same `SERIALIZER_ID`s, so the subprotocols are the standard ones.
 */
import type autobahn from "autobahn"
import { parseJson, serializers, stringifyJson } from "../../wamp/codecs.js"

/**
 * Whether a value holds a byte array or a bigint anywhere (both need JSON.stringify's replacer). A
 * walk over the message is cheaper than giving every message the replacer (measured: the replacer
 * cost now.v1 ~12% component CPU).
 */
const holdsBytes = (value: unknown): boolean => {
  if (typeof value === "bigint") return true
  if (typeof value !== "object" || value === null) return false
  if (ArrayBuffer.isView(value)) return true
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (holdsBytes(value[i])) return true
    return false
  }
  for (const key in value) if (holdsBytes((value as Record<string, unknown>)[key])) return true
  return false
}

export class JsonSerializer implements autobahn.Serializer {
  readonly SERIALIZER_ID = "json"
  readonly BINARY = false
  serialize(obj: unknown): string {
    return stringifyJson(obj as ReadonlyArray<unknown>, holdsBytes(obj))
  }
  unserialize(payload: unknown): unknown {
    return parseJson(payload as string)
  }
}

export class MsgpackSerializer implements autobahn.Serializer {
  readonly SERIALIZER_ID = "msgpack"
  readonly BINARY = true
  serialize(obj: unknown): Uint8Array | string {
    return serializers.msgpack.encode(obj as ReadonlyArray<unknown>, true)
  }
  unserialize(payload: unknown): unknown {
    return serializers.msgpack.decode(payload as Buffer)
  }
}
