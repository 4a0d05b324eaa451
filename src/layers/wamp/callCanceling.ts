/**
 * Call canceling for autobahn-js as a callee: the one place where wampgres reaches into autobahn.
 *
 * autobahn 26 does not handle INTERRUPT (message 69): an INTERRUPT from the router is a protocol
 * violation for it, and its HELLO does not announce `callee.features.call_canceling`, so a router
 * never sends one. This module fixes both, per connection, without touching autobahn globally:
 *
 * 1. `TRANSPORT_TYPE`: a WebSocket transport (autobahn's own, rebuilt here on `ws`, ~60 lines)
 *    whose `send` adds `call_canceling: true` to the callee role of the HELLO it carries, and
 *    batches the messages of one event-loop turn into one socket write. Pass
 *    `transports: [{ type: TRANSPORT_TYPE, url }]` to `new autobahn.Connection`. It also exposes
 *    `bufferedAmount()`, the socket's unsent bytes, for paced (backpressured) progressive results.
 * 2. `install(session, onInterrupt)`: after a join, hooks `session._MESSAGE_MAP` (autobahn's table
 *    of handlers by message type): INTERRUPT calls `onInterrupt(requestId, mode)`; INVOCATION is
 *    wrapped to remember the request id while autobahn synchronously calls the endpoint, which reads
 *    it with `currentRequest(session)` (autobahn does not hand the id to endpoints).
 *
 * The endpoint then interrupts its fiber and rejects with `wamp.error.canceled`; autobahn sends
 * that as the ERROR answering the INVOCATION, which is the spec's reply to an INTERRUPT.
 */
import autobahn from "autobahn"
import type * as Net from "node:net"
import { WebSocket } from "ws"
import { JsonSerializer } from "./serializers.js"
import { MessageType } from "../../wamp/messages.js"

/** The autobahn transport type registered by this module. */
export const TRANSPORT_TYPE = "wampgres-websocket"


/** A transport created by this module: autobahn's transport plus the socket's unsent bytes. */
export interface PacedTransport extends autobahn.Transport {
  readonly bufferedAmount: () => number
}

/** Adds call canceling to the callee role of a HELLO's details, leaving autobahn's shared object alone. */
const announceCallCanceling = (msg: autobahn.WampMessage): autobahn.WampMessage => {
  const details = msg[2] as { roles?: Record<string, { features?: Record<string, boolean> }> } | undefined
  if (details?.roles?.callee === undefined) return msg
  const roles = { ...details.roles, callee: { ...details.roles.callee, features: { ...details.roles.callee.features, call_canceling: true } } }
  return [msg[0], msg[1], { ...details, roles }, ...msg.slice(3)]
}

/** What a serializer produced, as `ws` sends it: text or bytes (the serializers of ./serializers.ts). */
const toFrame = (payload: unknown): string | ArrayBufferView => {
  if (typeof payload === "string" || ArrayBuffer.isView(payload)) return payload
  throw new Error(`${TRANSPORT_TYPE}: cannot send a ${typeof payload} payload`)
}

class Factory implements autobahn.TransportFactory {
  readonly type = TRANSPORT_TYPE
  private readonly url: string
  private readonly serializers: Array<autobahn.Serializer>
  constructor(options: autobahn.TransportOptions) {
    if (typeof options.url !== "string") throw new Error(`${TRANSPORT_TYPE}: options.url missing`)
    this.url = options.url
    this.serializers = options.serializers ?? [new JsonSerializer()]
  }
  create(): PacedTransport {
    // `ws`, not the global (undici) WebSocket: its TCP socket can be corked, so every message sent in
    // one turn of the event loop (the YIELDs of many calls) leaves in one write, not one syscall each
    // (measured: per-message writes were ~30% of the component's CPU under load).
    const socket = new WebSocket(this.url, this.serializers.map((s) => `wamp.2.${s.SERIALIZER_ID}`), {
      perMessageDeflate: false
    })
    let corked: Net.Socket | undefined
    const uncork = () => {
      const tcp = corked
      corked = undefined
      tcp?.uncork()
    }
    const transport: PacedTransport = {
      protocol: undefined,
      serializer: undefined,
      info: { type: "websocket", url: this.url, protocol: null },
      onmessage: () => {},
      onopen: () => {},
      onclose: () => {},
      send: (msg) => {
        const serializer = transport.serializer
        if (serializer === undefined) throw new Error("transport not open")
        const payload = toFrame(serializer.serialize(msg[0] === MessageType.HELLO ? announceCallCanceling(msg) : msg))
        if (corked === undefined && socket.readyState === WebSocket.OPEN) {
          const tcp = (socket as unknown as { _socket?: Net.Socket })._socket
          if (tcp !== undefined) {
            tcp.cork()
            corked = tcp
            setImmediate(uncork)
          }
        }
        socket.send(payload)
      },
      close: (code, reason) => socket.close(code, reason),
      bufferedAmount: () => socket.bufferedAmount
    }
    socket.on("open", () => {
      const id = socket.protocol.split(".")[2]
      transport.serializer = this.serializers.find((s) => s.SERIALIZER_ID === id)
      transport.protocol = socket.protocol
      transport.info.protocol = socket.protocol
      transport.onopen()
    })
    socket.on("message", (data: Buffer | ArrayBuffer | Array<Buffer>, isBinary: boolean) => {
      const serializer = transport.serializer
      if (serializer === undefined) return
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
      transport.onmessage(serializer.unserialize(isBinary ? bytes : bytes.toString("utf8")) as autobahn.WampMessage)
    })
    // An error is always followed by "close", which tells autobahn; without a listener ws would throw.
    socket.on("error", () => {})
    socket.on("close", (code: number, reason: Buffer) => {
      uncork()
      transport.onclose({ code, reason: reason.toString("utf8"), wasClean: code !== 1006 })
    })
    return transport
  }
}

if (!autobahn.transports.isRegistered(TRANSPORT_TYPE)) autobahn.transports.register(TRANSPORT_TYPE, Factory)

/** The INVOCATION whose endpoint autobahn is calling right now, per session: its request id and details. */
const current = new WeakMap<autobahn.Session, { id: number | undefined; details: Record<string, unknown> | undefined }>()

/** Inside an endpoint (synchronously): the id of the INVOCATION being handled. */
export const currentRequest = (session: autobahn.Session): number | undefined => current.get(session)?.id

/**
 * Inside an endpoint (synchronously): the INVOCATION's details as sent, custom ones included
 * (autobahn hands endpoints only the details it knows, not e.g. `_traceparent`).
 */
export const currentDetails = (session: autobahn.Session): Record<string, unknown> | undefined => current.get(session)?.details

/** The `mode` of an INTERRUPT: "kill" or "killnowait" (a router never sends "skip" to callees). */
export type InterruptMode = "kill" | "killnowait"

/** Hooks INTERRUPT and INVOCATION on a joined session (see the module comment). */
export const install = (
  session: autobahn.Session,
  onInterrupt: (requestId: number, mode: InterruptMode) => void
): void => {
  const processInvocation = session._MESSAGE_MAP[MessageType.INVOCATION]
  if (processInvocation === undefined) throw new Error("autobahn: no INVOCATION handler to wrap")
  // One holder per session, updated per INVOCATION (no WeakMap write per call).
  const holder: { id: number | undefined; details: Record<string, unknown> | undefined } = { id: undefined, details: undefined }
  current.set(session, holder)
  session._MESSAGE_MAP[MessageType.INVOCATION] = (msg) => {
    holder.id = msg[1] as number
    holder.details = msg[3] as Record<string, unknown> | undefined
    try {
      processInvocation(msg)
    } finally {
      holder.id = undefined
      holder.details = undefined
    }
  }
  session._MESSAGE_MAP[MessageType.INTERRUPT] = (msg) => {
    const options = (msg[2] ?? {}) as { mode?: unknown }
    onInterrupt(msg[1] as number, options.mode === "killnowait" ? "killnowait" : "kill")
  }
}

/** The transport of a session created with `TRANSPORT_TYPE`, for pacing progressive results. */
export const pacedTransport = (session: autobahn.Session): PacedTransport | undefined => {
  const socket = session._socket as Partial<PacedTransport>
  return typeof socket.bufferedAmount === "function" ? (socket as PacedTransport) : undefined
}
