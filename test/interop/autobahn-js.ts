/**
 * autobahn-js peers for the interop tests, over the project's codecs (the component's view of the
 * wire), and the seed's Crossbar configuration the interop routers run.
 */
import autobahn from "autobahn"
import * as Path from "node:path"
import { serializers } from "../../src/wamp/codecs.js"
import type { SerializerName } from "../../src/wamp/types.js"

/** The seed's Crossbar configuration, unchanged (its port is replaced by an ephemeral one). */
export const seedConfig = Path.resolve(import.meta.dirname, "../router/fixtures/config/seed/crossbar-config.json")

/** autobahn-js over the project's codecs (the component's view of the wire). */
class CodecSerializer implements autobahn.Serializer {
  readonly SERIALIZER_ID: string
  readonly BINARY: boolean
  constructor(private readonly name: SerializerName) {
    this.SERIALIZER_ID = name
    this.BINARY = serializers[name].binary
  }
  serialize(obj: unknown): string | Uint8Array {
    return serializers[this.name].encode(obj as ReadonlyArray<unknown>, true)
  }
  unserialize(payload: unknown): unknown {
    return serializers[this.name].decode(typeof payload === "string" ? Buffer.from(payload) : Buffer.from(payload as ArrayBuffer))
  }
}

/** An autobahn-js session on realm1; `close` leaves and waits for the connection to close. */
export const openJs = (url: string, serializer: SerializerName): Promise<{ session: autobahn.Session; close: () => Promise<void> }> =>
  new Promise((resolve, reject) => {
    let closed: () => void = () => {}
    const done = new Promise<void>((r) => (closed = r))
    const connection = new autobahn.Connection({
      realm: "realm1",
      transports: [{ type: "websocket", url, serializers: [new CodecSerializer(serializer)] }],
      use_es6_promises: true,
      max_retries: 0,
      retry_if_unreachable: false
    })
    connection.onopen = (session) =>
      resolve({
        session,
        close: async () => {
          connection.close()
          await done
        }
      })
    connection.onclose = (reason, details) => {
      closed()
      reject(new Error(`${reason}: ${details.reason ?? ""} ${details.message ?? ""}`))
      return true
    }
    connection.open()
  })

