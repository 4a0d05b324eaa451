/**
 * The WAMP serializers: JSON (with the spec's binary convention), MessagePack and CBOR.
 * Each is a stateless object shared by all sessions; encode/decode throw on bad input.
 *
 * Integers stay integers on the wire: msgpackr and cbor-x write a JS number outside the 32-bit
 * ranges as a float64 even when it is an integer, and strict peers (Autobahn|Python) then reject a
 * session or publication id as a float. After encoding, a flat pass over the bytes rewrites every
 * integral float64 in [-2^53, 2^53] as a 64-bit integer of the same size (9 bytes), in place.
 * Decoding gives a number for integers in [-2^53, 2^53] and a bigint beyond (exact, and never a
 * valid WAMP id); JSON writes a bigint as its exact digits.
 */
import { addExtension as addCborExtension, Decoder as CborDecoder, Encoder as CborEncoder } from "cbor-x"
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

/** `JSON.rawJSON` (ES2025, Node 21+), missing from the ES2023 typings. */
const rawJson = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON

/** JSON's binary convention: a string starting with "\u0000" followed by base64 is a byte array. */
function binaryReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // toJSON (Buffer has one) already ran on `value`; the holder still has the raw value
  const raw = this[key]
  if (raw instanceof Uint8Array) {
    return "\u0000" + Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64")
  }
  // a 64-bit integer decoded from msgpack or CBOR beyond 2^53: its exact digits, as a JSON number
  if (typeof value === "bigint") return rawJson(value.toString())
  return value
}

const binaryReviver = (_key: string, value: unknown): unknown =>
  typeof value === "string" && value.charCodeAt(0) === 0 ? Buffer.from(value.slice(1), "base64") : value

/** Whether JSON text may carry byte arrays: the escaped NUL ("\u0000" as six characters) only appears then. */
const jsonMayHoldBinary = (text: string): boolean => text.includes("\\u0000")

/** Parses WAMP JSON text, turning "\u0000" + base64 strings into byte arrays. */
export const parseJson = (text: string, mayHoldBinary = jsonMayHoldBinary(text)): unknown =>
  mayHoldBinary ? JSON.parse(text, binaryReviver) : JSON.parse(text)

/**
 * Stringifies a WAMP message, byte arrays as "\u0000" + base64 and bigints as exact JSON numbers
 * when `mayHoldBinary` (only messages decoded from msgpack or CBOR hold bigints).
 */
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

const TWO_32 = 0x1_0000_0000
const TWO_53 = 9007199254740992
const TWO_53_BIG = 9007199254740992n
const MSGPACK_FLOAT64 = 0xcb
const MSGPACK_UINT64 = 0xcf
const MSGPACK_INT64 = 0xd3
const CBOR_FLOAT64 = 0xfb
const CBOR_UINT64 = 0x1b
const CBOR_NINT64 = 0x3b

/** Whether a float64 holds an integer that a 64-bit integer carries exactly and that JS reads back exactly. */
const isWireInteger = (v: number): boolean => Number.isInteger(v) && v <= TWO_53 && v >= -TWO_53

/**
 * Whether `bytes` holds the byte `a` or `b`: a loop for short frames (cheaper than two native
 * calls), memchr (`Buffer.indexOf`) beyond.
 */
const holdsByte = (bytes: Buffer, a: number, b: number): boolean => {
  const length = bytes.length
  if (length > 96) return bytes.indexOf(a) >= 0 || (b !== a && bytes.indexOf(b) >= 0)
  for (let i = 0; i < length; i++) {
    const x = bytes[i]
    if (x === a || x === b) return true
  }
  return false
}

/**
 * A DataView over an encoder's buffer, kept while the encoder writes message after message into the
 * same buffer (one cache per encoder).
 */
const viewCache = (): (bytes: Uint8Array) => DataView => {
  let last: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0))
  return (bytes) => last.buffer === bytes.buffer ? last : (last = new DataView(bytes.buffer))
}
const msgpackView = viewCache()
const cborView = viewCache()

/** Writes `v` (an integer, |v| <= 2^53) as a big-endian 64-bit two's complement integer at `at`. */
const writeInt64 = (view: DataView, at: number, v: number): void => {
  const high = Math.floor(v / TWO_32)
  view.setInt32(at, high)
  view.setUint32(at + 4, v - high * TWO_32)
}

/**
 * Bytes each msgpack initial byte takes before the next item, or -1 for those with a variable size
 * (str/bin/ext 8/16/32, handled in place) or none (0xc1, never used).
 */
const MSGPACK_SIZE = new Int8Array(256).map((_, b) =>
  b <= 0x9f || b >= 0xe0 ? 1 : b <= 0xbf ? 1 + (b & 0x1f) : [
    1, -1, 1, 1, -1, -1, -1, -1, -1, -1, 5, 9, 2, 3, 5, 9, 2, 3, 5, 9, 3, 4, 6, 10, 18, -1, -1, -1, 3, 5, 3, 5
  ][b - 0xc0]!
)

/** Rewrites each integral float64 in [-2^53, 2^53] of an encoded msgpack item as uint64 (0xcf) or int64 (0xd3). */
const msgpackIntegersInPlace = (bytes: Uint8Array): void => {
  const view = msgpackView(bytes)
  const base = bytes.byteOffset
  const end = bytes.length
  let at = 0
  while (at < end) {
    const b = bytes[at]!
    const size = MSGPACK_SIZE[b]!
    if (size > 0) {
      if (b === MSGPACK_FLOAT64) {
        const v = view.getFloat64(base + at + 1)
        if (isWireInteger(v)) {
          bytes[at] = v >= 0 ? MSGPACK_UINT64 : MSGPACK_INT64
          writeInt64(view, base + at + 1, v)
        }
      }
      at += size
    } else if (b === 0xc4 || b === 0xd9) at += 2 + bytes[at + 1]! // bin8, str8
    else if (b === 0xc5 || b === 0xda) at += 3 + view.getUint16(base + at + 1) // bin16, str16
    else if (b === 0xc6 || b === 0xdb) at += 5 + view.getUint32(base + at + 1) // bin32, str32
    else if (b === 0xc7) at += 3 + bytes[at + 1]! // ext8
    else if (b === 0xc8) at += 4 + view.getUint16(base + at + 1) // ext16
    else if (b === 0xc9) at += 6 + view.getUint32(base + at + 1) // ext32
    else throw new Error(`msgpack: unexpected byte 0x${b.toString(16)} in own encoding`)
  }
}

/** Rewrites each integral float64 in [-2^53, 2^53] of an encoded CBOR item as major type 0 (0x1b) or 1 (0x3b). */
const cborIntegersInPlace = (bytes: Uint8Array): void => {
  const view = cborView(bytes)
  const base = bytes.byteOffset
  const end = bytes.length
  let at = 0
  while (at < end) {
    const b = bytes[at]!
    const major = b >> 5
    const info = b & 0x1f
    if (b === CBOR_FLOAT64) {
      const v = view.getFloat64(base + at + 1)
      if (isWireInteger(v)) {
        // major type 1 carries -1 - v
        bytes[at] = v >= 0 ? CBOR_UINT64 : CBOR_NINT64
        writeInt64(view, base + at + 1, v >= 0 ? v : -1 - v)
      }
      at += 9
      continue
    }
    // the header: initial byte plus 0, 1, 2, 4 or 8 bytes of argument (31: indefinite length or break)
    let argument: number
    if (info < 24 || info === 31) {
      argument = info
      at += 1
    } else if (info === 24) {
      argument = bytes[at + 1]!
      at += 2
    } else if (info === 25) {
      argument = view.getUint16(base + at + 1)
      at += 3
    } else if (info === 26) {
      argument = view.getUint32(base + at + 1)
      at += 5
    } else if (info === 27) {
      argument = view.getUint32(base + at + 1) * TWO_32 + view.getUint32(base + at + 5)
      at += 9
    } else throw new Error(`CBOR: unexpected byte 0x${b.toString(16)} in own encoding`)
    // byte and text strings of definite length: skip the content (major 7 arguments are the value)
    if ((major === 2 || major === 3) && info !== 31) at += argument
  }
}

/** Turns the bigints of a freshly decoded value that lie in [-2^53, 2^53] into numbers, in place. */
const smallBigIntsToNumbers = (value: unknown): unknown => {
  if (typeof value === "bigint") return value <= TWO_53_BIG && value >= -TWO_53_BIG ? Number(value) : value
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = smallBigIntsToNumbers(value[i])
  } else {
    const record = value as Record<string, unknown>
    for (const key in record) record[key] = smallBigIntsToNumbers(record[key])
  }
  return value
}

class MsgpackSerializer implements Serializer {
  readonly name = "msgpack" as const
  readonly protocol = "wamp.2.msgpack"
  readonly binary = true
  readonly lastHoldsBinary = true
  // plain maps both ways (no record extension); 64-bit integers as numbers up to 2^53, else bigints
  // ("auto" is a runtime option missing from msgpackr's typings)
  private readonly packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: "auto" as "number" })
  encode(message: ReadonlyArray<unknown>): Uint8Array {
    const bytes = this.packr.pack(message)
    if (holdsByte(bytes, MSGPACK_FLOAT64, MSGPACK_FLOAT64)) msgpackIntegersInPlace(bytes)
    return bytes
  }
  decode(data: Buffer): unknown {
    return this.packr.unpack(data)
  }
}

const CBOR_ENCODER_OPTIONS = { useRecords: false, mapsAsObjects: true, useTag259ForMaps: false, tagUint8Array: false }
// 64-bit integers (CBOR's 0x1b/0x3b, only written for values beyond 32 bits) decode as bigints,
// then `smallBigIntsToNumbers` turns those in [-2^53, 2^53] into numbers
/**
 * CBOR tags that make cbor-x build objects from a peer's data are refused (the frame fails to decode,
 * a protocol violation): 27 calls `Error`/`RegExp` with the peer's arguments, 28/29 share values and
 * so let a peer send cyclic data. A WAMP payload is plain data. cbor-x keeps tags per process; the
 * router is its only user here.
 */
const refuseCborTag = (tag: number): Parameters<typeof addCborExtension>[0] =>
  ({
    tag,
    decode: () => {
      throw new Error(`CBOR tag ${tag} is not accepted`)
    }
  }) as unknown as Parameters<typeof addCborExtension>[0] // decode-only: the typings demand a Class and an encoder
for (const tag of [27, 28, 29]) addCborExtension(refuseCborTag(tag))

const CBOR_DECODER_OPTIONS = { useRecords: false, mapsAsObjects: true, int64AsNumber: false }

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
    const bytes = this.encoder.encode(message)
    if (holdsByte(bytes, CBOR_FLOAT64, CBOR_FLOAT64)) cborIntegersInPlace(bytes)
    return bytes
  }
  decode(data: Buffer): unknown {
    const value: unknown = this.decoder.decode(data)
    // without either initial byte of a 64-bit integer anywhere, there is no bigint to look for
    return holdsByte(data, CBOR_UINT64, CBOR_NINT64) ? smallBigIntsToNumbers(value) : value
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
