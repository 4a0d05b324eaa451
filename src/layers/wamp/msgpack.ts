/**
 * MessagePack for the component's autobahn session through `msgpackr`, the codec the router uses.
 *
 * autobahn's own `MsgpackSerializer` (msgpack5) made a msgpack call cost the component about twice
 * the CPU of a JSON one, and its garbage (BufferLists) pushed a streamed history's peak RSS up. This
 * one is a drop-in autobahn serializer: same `SERIALIZER_ID`, byte arrays as msgpack `bin`.
 */
import type autobahn from "autobahn"
import { serializers } from "../../router/serializers.js"

const codec = serializers.msgpack

export class MsgpackrSerializer implements autobahn.Serializer {
  readonly SERIALIZER_ID = "msgpack"
  readonly BINARY = true
  serialize(obj: unknown): Uint8Array | string {
    return codec.encode(obj as ReadonlyArray<unknown>, true)
  }
  unserialize(payload: unknown): unknown {
    return codec.decode(payload as Buffer)
  }
}
