/**
 * What wampgres still reads or hooks inside autobahn and ws, because neither offers a public way
 * (all of it in src/layers/wamp/callCanceling.ts). These tests fail when an upgrade changes it:
 *
 * - autobahn's session dispatches messages through `_MESSAGE_MAP` (INVOCATION is wrapped to learn
 *   the request id, INTERRUPT added) and does not handle INTERRUPT itself;
 * - autobahn's session keeps its transport in `_socket` (read for the socket's unsent bytes);
 * - ws keeps the TCP socket of an open WebSocket in `_socket` (corked to batch writes).
 */
import { assert, describe, it } from "@effect/vitest"
import autobahn from "autobahn"
import * as Net from "node:net"
import { WebSocket, WebSocketServer } from "ws"
import * as CallCanceling from "../../../src/layers/wamp/callCanceling.js"
import { MessageType } from "../../../src/wamp/messages.js"

const transport = (): CallCanceling.PacedTransport => ({
  protocol: undefined,
  serializer: undefined,
  info: { type: "websocket", url: "ws://127.0.0.1/ws", protocol: null },
  onmessage: () => {},
  onopen: () => {},
  onclose: () => {},
  send: () => {},
  close: () => {},
  bufferedAmount: () => 42
})

const session = (socket: autobahn.Transport): autobahn.Session => {
  const Session = autobahn.Session as unknown as new(socket: autobahn.Transport, defer: undefined) => autobahn.Session
  return new Session(socket, undefined)
}

describe("autobahn internals used for call canceling and pacing", () => {
  it("a session dispatches INVOCATION through _MESSAGE_MAP and has no INTERRUPT handler of its own", () => {
    const on = session(transport())
    assert.strictEqual(typeof on._MESSAGE_MAP[MessageType.INVOCATION], "function")
    assert.isUndefined(on._MESSAGE_MAP[MessageType.INTERRUPT])
  })

  it("install wraps INVOCATION (the request id is known while the endpoint runs) and routes INTERRUPT", () => {
    const on = session(transport())
    const seen: Array<number | undefined> = []
    on._MESSAGE_MAP[MessageType.INVOCATION] = () => seen.push(CallCanceling.currentRequest(on))
    const interrupts: Array<[number, string]> = []
    CallCanceling.install(on, (requestId, mode) => interrupts.push([requestId, mode]))
    on._MESSAGE_MAP[MessageType.INVOCATION]!([MessageType.INVOCATION, 7, 1, {}])
    on._MESSAGE_MAP[MessageType.INTERRUPT]!([MessageType.INTERRUPT, 7, { mode: "killnowait" }])
    assert.deepStrictEqual(seen, [7])
    assert.isUndefined(CallCanceling.currentRequest(on))
    assert.deepStrictEqual(interrupts, [[7, "killnowait"]])
  })

  it("a session keeps its transport in _socket", () => {
    const paced = transport()
    assert.strictEqual(CallCanceling.pacedTransport(session(paced))?.bufferedAmount(), 42)
  })

  it("an open ws WebSocket keeps its TCP socket in _socket", async () => {
    const server = new WebSocketServer({ port: 0, host: "127.0.0.1" })
    await new Promise((resolve) => server.once("listening", resolve))
    const { port } = server.address() as Net.AddressInfo
    const socket = new WebSocket(`ws://127.0.0.1:${port}`)
    try {
      await new Promise((resolve, reject) => {
        socket.once("open", resolve)
        socket.once("error", reject)
      })
      const tcp = (socket as unknown as { _socket?: unknown })._socket
      assert.instanceOf(tcp, Net.Socket)
    } finally {
      socket.terminate()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
