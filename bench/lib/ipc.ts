/** Typed access to Node's IPC channel for the benchmark's child processes. */
import type { ChildMessage, ParentMessage } from "./protocol.js"

/** Sends to the orchestrator; resolves once the message left this process. */
export const sendToParent = (message: ChildMessage): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined) throw new Error("not started by bench/run.ts (no IPC channel)")
    process.send(message, undefined, {}, () => resolve())
  })

export const onParentMessage = (handler: (message: ParentMessage) => void): void => {
  process.on("message", (message) => handler(message as ParentMessage))
  // The orchestrator gone means nobody reads our figures: stop.
  process.on("disconnect", () => process.exit(0))
}

/** Sends a final message, then exits with `code` once it is delivered. */
export const finish = (message: ChildMessage, code: number): void => {
  void sendToParent(message).finally(() => process.exit(code))
}
