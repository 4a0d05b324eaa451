/**
 * Listening transports: a Node HTTP server per endpoint, WebSocket paths (`ws`) with WAMP
 * subprotocol negotiation, message-size limits and auto-ping, and static paths on `web`
 * transports. Each accepted WebSocket becomes a {@link Session}. The transport's limits: the
 * Origin check and the connection count of upgrades, and the time a connection gets to
 * establish its WAMP session.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import type { Duplex } from "node:stream"
import { WebSocket, WebSocketServer } from "ws"
import { originCheck, publicHeaders, websocketLimitDefaults } from "./limits.js"
import type { Realm } from "./realm.js"
import { serializerForProtocol, serializers } from "../wamp/codecs.js"
import {
  type FlowControl,
  flowControl,
  type Peer,
  type RouterLog,
  Session,
  type SessionContext,
  type TransportInfo
} from "./session.js"
import { StaticDirectory } from "./static.js"
import type { SerializerName, Transport, WebSocketOptions } from "./types.js"

export interface Listening {
  readonly host: string
  readonly port: number
  readonly transport: Transport
}

export interface RunningTransport {
  readonly listening: Listening
  /** URL paths with a WebSocket service ("/" for a plain websocket transport). */
  readonly websocketPaths: ReadonlyArray<string>
  /** Stops accepting, closes every connection and the server. */
  close(): Promise<void>
}

/**
 * A peer with more than this many maximum-size messages waiting to be sent is dropped. Progressive
 * results pause their callee well below this (session.ts, FlowControl), and a caller that keeps a
 * callee paused beyond the slow caller timeout has that call canceled, so a slow caller is
 * dropped only when other traffic fills its buffer.
 */
const SEND_BUFFER_MESSAGES = 16

/** Grace for a close handshake before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000

class WebSocketService {
  readonly wss: WebSocketServer
  readonly context: SessionContext
  readonly originAllowed: (origin: string | undefined) => boolean
  readonly openHandshakeTimeout: number
  constructor(
    readonly options: WebSocketOptions,
    realms: ReadonlyMap<string, Realm>,
    log: RouterLog,
    flow: Partial<FlowControl> | undefined
  ) {
    this.context = {
      realms,
      auth: options.auth,
      maxMessageSize: options.maxMessageSize,
      log,
      flow: {
        ...flowControl(options.maxMessageSize),
        pauseLimitMs: options.slowCallerTimeout ?? websocketLimitDefaults.slowCallerTimeout,
        ...flow
      }
    }
    this.originAllowed = originCheck(options.allowedOrigins, options.allowNullOrigin ?? websocketLimitDefaults.allowNullOrigin)
    this.openHandshakeTimeout = options.openHandshakeTimeout ?? websocketLimitDefaults.openHandshakeTimeout
    this.wss = new WebSocketServer({
      noServer: true,
      // frames up to this size are read so that an oversized message gets a WAMP ABORT naming the
      // limit; beyond it ws closes the connection itself (1009) without buffering more
      maxPayload: Math.max(options.maxMessageSize * 4, options.maxMessageSize + 1024 * 1024),
      perMessageDeflate: false,
      handleProtocols: (offered) => this.choose(offered) ?? false
    })
  }

  /** The first subprotocol in the client's order of preference that this service speaks. */
  choose(offered: Iterable<string>): string | undefined {
    for (const protocol of offered) {
      const name = serializerForProtocol(protocol)
      if (name !== undefined && this.options.serializers.includes(name)) return protocol
    }
    return undefined
  }
}

const offeredProtocols = (req: IncomingMessage): Array<string> =>
  (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim()).filter((p) => p.length > 0)

const rejectUpgrade = (socket: Duplex, status: string, text: string): void => {
  socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`)
}

const pathnameOf = (url: string | undefined): string => {
  const raw = url ?? "/"
  const q = raw.indexOf("?")
  return q < 0 ? raw : raw.slice(0, q)
}

/**
 * Starts one transport; resolves when it listens. `flow` overrides the backpressure defaults
 * ({@link flowControl}); tests use it.
 */
export const startTransport = async (
  transport: Transport,
  realms: ReadonlyMap<string, Realm>,
  log: RouterLog,
  flow?: Partial<FlowControl>
): Promise<RunningTransport> => {
  const websockets = new Map<string, WebSocketService>()
  const statics: Array<{ readonly mount: string; readonly directory: StaticDirectory }> = []
  if (transport.type === "websocket") {
    websockets.set("/", new WebSocketService(transport.options, realms, log, flow))
  } else {
    for (const [mount, service] of transport.paths) {
      if (service.type === "websocket") websockets.set(mount, new WebSocketService(service.options, realms, log, flow))
      else statics.push({ mount, directory: new StaticDirectory(service.directory) })
    }
    // longest mount first, so "/autobahn" wins over "/"
    statics.sort((a, b) => b.mount.length - a.mount.length)
  }
  const sockets = new Set<WebSocket>()
  /** Upgrade requests accepted so far whose connection is still open (max_connections counts them). */
  let connections = 0
  const maxConnections = transport.endpoint.maxConnections ?? websocketLimitDefaults.maxConnections

  const findWebSocket = (pathname: string): WebSocketService | undefined =>
    transport.type === "websocket" ? websockets.get("/") : websockets.get(pathname)

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const pathname = pathnameOf(req.url)
    if (findWebSocket(pathname) !== undefined) {
      res.writeHead(426, { "content-type": "text/plain; charset=utf-8", upgrade: "websocket" })
      return void res.end("this is a WAMP WebSocket endpoint: connect with a WebSocket client")
    }
    for (const { mount, directory } of statics) {
      if (mount === "/" || pathname === mount || pathname.startsWith(mount + "/")) {
        const sub = mount === "/" ? pathname : pathname.slice(mount.length)
        directory.serve(req, res, sub, pathname).catch(() => {
          if (!res.headersSent) res.writeHead(500)
          res.end()
        })
        return
      }
    }
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" })
    res.end("not found")
  }

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const service = findWebSocket(pathnameOf(req.url))
    if (service === undefined) return rejectUpgrade(socket, "404 Not Found", "no WebSocket service on this path")
    const origin = req.headers.origin
    if (!service.originAllowed(origin)) {
      log.info(`WebSocket upgrade from origin ${JSON.stringify(origin)} refused (not in allowed_origins)`)
      return rejectUpgrade(socket, "403 Forbidden", "this origin may not open a WebSocket here (allowed_origins)")
    }
    if (connections >= maxConnections) {
      log.warn(`WebSocket upgrade refused: ${connections} connections, the transport's max_connections`)
      return rejectUpgrade(socket, "503 Service Unavailable", `too many connections (max_connections ${maxConnections})`)
    }
    if (service.choose(offeredProtocols(req)) === undefined) {
      return rejectUpgrade(
        socket,
        "400 Bad Request",
        `no supported WAMP subprotocol offered; this endpoint speaks ${service.options.serializers.map((s) => `wamp.2.${s}`).join(", ")}`
      )
    }
    connections++
    socket.once("close", () => connections--)
    service.wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req, service))
  }

  const accept = (ws: WebSocket, req: IncomingMessage, service: WebSocketService): void => {
    sockets.add(ws)
    const name = serializerForProtocol(ws.protocol) as SerializerName
    const info: TransportInfo = {
      type: "websocket",
      protocol: ws.protocol,
      peer: `tcp:${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? 0}`,
      // other sessions see these through the meta API: no cookies, credentials or custom headers
      http_headers_received: publicHeaders(req.headers)
    }
    let closeTimer: ReturnType<typeof setTimeout> | undefined
    const sendBufferLimit = SEND_BUFFER_MESSAGES * service.options.maxMessageSize
    // Messages sent in one tick leave in one write: the socket is corked on the first send and
    // uncorked after the current batch of work (one syscall instead of one per message).
    const socket = req.socket
    let corked = false
    const uncork = (): void => {
      corked = false
      socket.uncork()
    }
    let pingTimer: ReturnType<typeof setInterval> | undefined
    let pongTimer: ReturnType<typeof setTimeout> | undefined
    let onDrained: (() => void) | undefined
    const drain = (): void => {
      const f = onDrained
      onDrained = undefined
      f?.()
    }
    const peer: Peer = {
      send: (data) => {
        if (ws.readyState !== WebSocket.OPEN) return false
        if (!corked) {
          corked = true
          socket.cork()
          process.nextTick(uncork)
        }
        ws.send(data)
        // a peer that stops reading must not grow the router's memory without bound
        if (ws.bufferedAmount > sendBufferLimit) {
          log.warn(`session ${session.id}: ${ws.bufferedAmount} bytes waiting to be sent, dropping the slow peer`)
          ws.terminate()
        }
        return true
      },
      get bufferedAmount() {
        return ws.bufferedAmount
      },
      pauseReading: () => {
        ws.pause()
        // a paused connection's pong cannot be read: no ping deadline while paused
        if (pongTimer !== undefined) clearTimeout(pongTimer)
        pongTimer = undefined
      },
      resumeReading: () => ws.resume(),
      awaitDrain: (drained) => {
        const first = onDrained === undefined
        onDrained = drained
        if (!first) return
        // 'drain' follows a write that found the buffer above the socket's own mark; otherwise
        // there is nothing to wait for
        if (socket.writableNeedDrain) socket.once("drain", drain)
        else process.nextTick(drain)
      },
      close: (code, reason) => {
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason.slice(0, 120))
        closeTimer ??= setTimeout(() => ws.terminate(), CLOSE_GRACE_MS)
        closeTimer.unref()
      }
    }
    const session = new Session(peer, serializers[name], info, service.context)

    // open_handshake_timeout: a connection that has not established its WAMP session by then is closed
    const handshakeTimer = service.openHandshakeTimeout > 0
      ? setTimeout(() => {
        if (session.established) return
        log.info(`connection from ${info.peer}: no WAMP session within ${service.openHandshakeTimeout} ms, closing it`)
        session.closed()
        peer.close(1008, `no WAMP session within open_handshake_timeout (${service.openHandshakeTimeout} ms)`)
      }, service.openHandshakeTimeout)
      : undefined

    // auto-ping: a peer that does not answer a ping within the timeout is dropped
    const { autoPingInterval, autoPingTimeout } = service.options
    if (autoPingInterval > 0) {
      pingTimer = setInterval(() => {
        if (pongTimer !== undefined || ws.readyState !== WebSocket.OPEN || ws.isPaused) return
        ws.ping()
        pongTimer = setTimeout(() => {
          log.info(`session ${session.id}: no pong within ${autoPingTimeout} ms, dropping the connection`)
          ws.terminate()
        }, autoPingTimeout > 0 ? autoPingTimeout : autoPingInterval)
      }, autoPingInterval)
      ws.on("pong", () => {
        if (pongTimer !== undefined) clearTimeout(pongTimer)
        pongTimer = undefined
      })
    }

    ws.on("message", (data: Buffer) => session.receive(data))
    ws.on("error", (error) => log.debug(`websocket error: ${error.message}`))
    ws.on("close", () => {
      sockets.delete(ws)
      if (pingTimer !== undefined) clearInterval(pingTimer)
      if (pongTimer !== undefined) clearTimeout(pongTimer)
      if (closeTimer !== undefined) clearTimeout(closeTimer)
      if (handshakeTimer !== undefined) clearTimeout(handshakeTimer)
      session.closed()
    })
  }

  // open_handshake_timeout also bounds the HTTP part of the opening: a connection that has not
  // sent its request headers by then gets 408 and is closed (checked every second at most)
  const limits = [...websockets.values()].map((w) => w.openHandshakeTimeout).filter((ms) => ms > 0)
  const headersTimeout = limits.length > 0 ? Math.min(...limits) : undefined
  const server: Server = createServer(
    headersTimeout === undefined ? {} : {
      headersTimeout,
      requestTimeout: Math.max(300_000, headersTimeout),
      connectionsCheckingInterval: Math.min(1000, headersTimeout)
    },
    onRequest
  )
  server.on("upgrade", onUpgrade)
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(transport.endpoint.port, transport.endpoint.interface, () => {
      server.off("error", reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo

  return {
    listening: { host: address.address, port: address.port, transport },
    websocketPaths: [...websockets.keys()],
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      // sessions already got GOODBYE from their realm; wait briefly for close handshakes
      if (sockets.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, CLOSE_GRACE_MS)
          const check = (): void => {
            if (sockets.size === 0) {
              clearTimeout(timer)
              resolve()
            }
          }
          for (const ws of sockets) {
            ws.once("close", check)
            if (ws.readyState === WebSocket.OPEN) ws.close(1001, "router shutdown")
          }
        })
      }
      for (const ws of sockets) ws.terminate()
      for (const service of websockets.values()) service.wss.close()
      server.closeAllConnections()
      await closed
    }
  }
}
