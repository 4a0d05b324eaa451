/**
 * The WAMP serializers: JSON (with the spec's binary convention), MessagePack and CBOR.
 * Each is a stateless object shared by all sessions; encode/decode throw on bad input.
 */
import { Decoder as CborDecoder, Encoder as CborEncoder } from "cbor-x"
import { Packr } from "msgpackr"
import type { SerializerName } from "./types.js"

export interface Serializer {
  readonly name: SerializerName
  /** The WebSocket subprotocol, e.g. "wamp.2.json". */
  readonly protocol: string
  /** Whether frames are binary. */
  readonly binary: boolean
  /**
   * Encodes one message. `mayHoldBinary` false promises the message holds no byte arrays, which
   * lets JSON skip its binary replacer (the common JSON-to-JSON case).
   */
  encode(message: ReadonlyArray<unknown>, mayHoldBinary: boolean): string | Uint8Array
  /** Decodes one frame; sets `lastHoldsBinary` for the message just decoded. */
  decode(data: Buffer): unknown
  /** Whether the message decoded last may contain byte arrays. */
  readonly lastHoldsBinary: boolean
}

/** JSON's binary convention: a string starting with "\u0000" followed by base64 is a byte array. */
function binaryReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // toJSON (Buffer has one) already ran on `value`; the holder still has the raw value
  const raw = this[key]
  if (raw instanceof Uint8Array) {
    return "\u0000" + Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64")
  }
  return value
}

const binaryReviver = (_key: string, value: unknown): unknown =>
  typeof value === "string" && value.charCodeAt(0) === 0 ? Buffer.from(value.slice(1), "base64") : value

/** Whether JSON text may carry byte arrays: the escaped NUL ("\u0000" as six characters) only appears then. */
const jsonMayHoldBinary = (text: string): boolean => text.includes("\\u0000")

/** Parses WAMP JSON text, turning "\u0000" + base64 strings into byte arrays. */
export const parseJson = (text: string, mayHoldBinary = jsonMayHoldBinary(text)): unknown =>
  mayHoldBinary ? JSON.parse(text, binaryReviver) : JSON.parse(text)

/** Stringifies a WAMP message, byte arrays as "\u0000" + base64 when `mayHoldBinary`. */
export const stringifyJson = (message: ReadonlyArray<unknown>, mayHoldBinary: boolean): string =>
  mayHoldBinary ? JSON.stringify(message, binaryReplacer) : JSON.stringify(message)

class JsonSerializer implements Serializer {
  readonly name = "json" as const
  readonly protocol = "wamp.2.json"
  readonly binary = false
  lastHoldsBinary = false
  encode(message: ReadonlyArray<unknown>, mayHoldBinary: boolean): string {
    return stringifyJson(message, mayHoldBinary)
  }
  decode(data: Buffer): unknown {
    const text = data.toString("utf8")
    this.lastHoldsBinary = jsonMayHoldBinary(text)
    return parseJson(text, this.lastHoldsBinary)
  }
}

class MsgpackSerializer implements Serializer {
  readonly name = "msgpack" as const
  readonly protocol = "wamp.2.msgpack"
  readonly binary = true
  readonly lastHoldsBinary = true
  // plain maps both ways (no record extension), 64-bit integers as numbers: WAMP ids fit in 2^53
  private readonly packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" })
  encode(message: ReadonlyArray<unknown>): Uint8Array {
    return this.packr.pack(message)
  }
  decode(data: Buffer): unknown {
    return this.packr.unpack(data)
  }
}

const CBOR_ENCODER_OPTIONS = { useRecords: false, mapsAsObjects: true, useTag259ForMaps: false, tagUint8Array: false }
const CBOR_DECODER_OPTIONS = { useRecords: false, mapsAsObjects: true, int64AsNumber: true }

class CborSerializer implements Serializer {
  readonly name = "cbor" as const
  readonly protocol = "wamp.2.cbor"
  readonly binary = true
  readonly lastHoldsBinary = true
  // plain CBOR: no records, no tag 259 for maps, byte arrays as plain byte strings (no tag 64)
  // (useTag259ForMaps and int64AsNumber are runtime options missing from cbor-x's typings)
  private readonly encoder = new CborEncoder(CBOR_ENCODER_OPTIONS)
  private readonly decoder = new CborDecoder(CBOR_DECODER_OPTIONS)
  encode(message: ReadonlyArray<unknown>): Uint8Array {
    return this.encoder.encode(message)
  }
  decode(data: Buffer): unknown {
    return this.decoder.decode(data)
  }
}

/**
 * One serializer per format, shared by all sessions: routing is synchronous, so `lastHoldsBinary`
 * is read before the next frame is decoded.
 */
export const serializers: { readonly [N in SerializerName]: Serializer } = {
  json: new JsonSerializer(),
  msgpack: new MsgpackSerializer(),
  cbor: new CborSerializer()
}

/** The serializer name for a subprotocol, or undefined. */
export const serializerForProtocol = (protocol: string): SerializerName | undefined => {
  switch (protocol) {
    case "wamp.2.json":
      return "json"
    case "wamp.2.msgpack":
      return "msgpack"
    case "wamp.2.cbor":
      return "cbor"
    default:
      return undefined
  }
}
