/**
 * Echo component: a child process of `bench/run.ts` that registers `bench.echo` and returns its
 * arguments unchanged. The same component (autobahn client) serves every router under test.
 * argv: url realm serializer invokePolicy
 */
import { loadAutobahn, openSession } from "../lib/autobahn.js"
import { finish, onParentMessage, sendToParent } from "../lib/ipc.js"
import type { Serializer } from "../lib/protocol.js"
import { describeFailure } from "../lib/stats.js"
import { ECHO_PROCEDURE } from "../lib/workloads.js"

const [url, realm, serializer, invoke] = process.argv.slice(2)

const main = async (): Promise<void> => {
  if (url === undefined || realm === undefined || serializer === undefined) {
    throw new Error("usage: echo-component.ts <url> <realm> <json|msgpack> [invoke policy]")
  }
  const autobahn = loadAutobahn()
  const { close, session } = await openSession(url, realm, serializer as Serializer)
  let served = 0
  // `Result` keeps args and kwargs exactly as received, whatever their shape.
  await session.register(ECHO_PROCEDURE, (args, kwargs) => {
    served++
    return new autobahn.Result(args, kwargs)
  }, invoke ? { invoke } : {})
  onParentMessage((message) => {
    if (message.type === "stop") void close().finally(() => process.exit(0))
    // With several instances the orchestrator checks that every one of them took calls.
    else if (message.type === "report-served") void sendToParent({ type: "served", count: served })
  })
  process.on("SIGTERM", () => void close().finally(() => process.exit(0)))
  await sendToParent({ type: "ready", node: process.version })
}

main().catch((e: unknown) => finish({ type: "failed", message: describeFailure(e) }, 1))
