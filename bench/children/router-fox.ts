/**
 * The peer router for comparison: `fox-wamp` from npm, alone in this child process, listening on
 * an ephemeral port on 127.0.0.1. It speaks only `wamp.2.json` and creates realms on demand.
 */
import { createRequire } from "node:module"
import type { AddressInfo } from "node:net"
import { finish, onParentMessage, sendToParent } from "../lib/ipc.js"
import { describeFailure } from "../lib/stats.js"

interface FoxServer {
  on(event: "listening", f: () => void): void
  on(event: "error", f: (e: Error) => void): void
  address(): AddressInfo | string | null
  close(f?: () => void): void
}
interface FoxRouter {
  listenWAMP(options: { port: number; host: string }): FoxServer
}

const require = createRequire(import.meta.url)

const main = async (): Promise<void> => {
  const FoxRouter = require("fox-wamp") as new () => FoxRouter
  const server = new FoxRouter().listenWAMP({ port: 0, host: "127.0.0.1" })
  await new Promise<void>((resolve, reject) => {
    server.on("listening", resolve)
    server.on("error", reject)
  })
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("fox-wamp: no TCP address")
  const stop = () => {
    server.close(() => process.exit(0))
    // ws does not end open connections on close: do not wait for them.
    setTimeout(() => process.exit(0), 500).unref()
  }
  onParentMessage((message) => {
    if (message.type === "stop") stop()
  })
  process.on("SIGTERM", stop)
  await sendToParent({ type: "ready", node: process.version, url: `ws://127.0.0.1:${address.port}/` })
}

main().catch((e: unknown) => finish({ type: "failed", message: describeFailure(e) }, 1))
