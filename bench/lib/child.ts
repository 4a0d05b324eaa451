/**
 * Child processes as scoped resources: each role of a benchmark (router, component, load client)
 * runs in its own Node process, forked on this very Node (tsx loader), so that its CPU time and
 * peak RSS are its own. Closing the scope stops the child (stop message, SIGTERM, then SIGKILL).
 */
import { type ChildProcess, fork } from "node:child_process"
import { Cause, Deferred, Effect, Queue, Schema, type Scope } from "effect"
import type { ChildMessage, ParentMessage } from "./protocol.js"

export class ChildError extends Schema.TaggedError<ChildError>()("ChildError", {
  child: Schema.String,
  message: Schema.String
}) {}

export interface Child {
  readonly name: string
  readonly pid: number
  /** Node version the child reported (`process.version`), when it speaks the IPC protocol. */
  readonly node: string | undefined
  /** The URL a router child listens on. */
  readonly url: string | undefined
  readonly send: (message: ParentMessage) => Effect.Effect<void>
  /** Messages in arrival order; fails with `ChildError` once the child has exited. */
  readonly messages: Queue.Dequeue<ChildMessage, ChildError>
  /** Last lines the child wrote to stdout/stderr. */
  readonly output: () => string
  /** Completes when the child exits, with how ("code 1", "signal SIGKILL"). */
  readonly exited: Effect.Effect<string>
}

export interface ChildOptions {
  readonly name: string
  /** Absolute path of the entry point: .ts (run through tsx), or compiled .js with `loader: "node"`. */
  readonly script: string
  /** "tsx" (default): the tsx loader; "node": plain Node, for compiled JavaScript. */
  readonly loader?: "tsx" | "node"
  readonly args?: ReadonlyArray<string>
  /** Node flags for the child (`--max-semi-space-size=4`), after the tsx loader. */
  readonly nodeOptions?: ReadonlyArray<string>
  /** Added to this process's environment; `undefined` removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Working directory (default: this process's). */
  readonly cwd?: string
  /** true: the child sends `ready` (or `failed`) over IPC; false: it is a plain program (src/main.ts). */
  readonly speaksIpc: boolean
  readonly readyTimeoutMs?: number
  /** Grace after SIGTERM before SIGKILL. */
  readonly stopTimeoutMs?: number
}

const KEEP_LINES = 40

/**
 * `BENCH_CPU_PROF=<dir>`: every child writes a V8 CPU profile (`--cpu-prof`) into `dir` when it
 * exits, for where-does-the-time-go questions (open it in Chrome's DevTools). Node refuses the
 * flag in NODE_OPTIONS, hence a variable of the bench's own.
 */
const profiling = (): ReadonlyArray<string> => {
  const dir = process.env["BENCH_CPU_PROF"]
  return dir === undefined || dir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`]
}

/** This process's environment with `changes` applied (an `undefined` value removes the variable). */
export const childEnv = (changes: Readonly<Record<string, string | undefined>>): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }
  return env
}

export const spawnChild = Effect.fn("spawnChild")(function*(options: ChildOptions) {
  const messages = yield* Queue.unbounded<ChildMessage, ChildError>()
  const exited = yield* Deferred.make<string>()
  const lines: Array<string> = []
  const remember = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line.trim() === "") continue
      lines.push(line)
      if (lines.length > KEEP_LINES) lines.shift()
    }
  }
  const output = () => lines.join("\n")

  const proc = yield* Effect.acquireRelease(
    Effect.sync((): ChildProcess => {
      const child = fork(options.script, [...(options.args ?? [])], {
        // The same Node binary as the orchestrator (Node 24 via npm scripts), with tsx for .ts.
        execPath: process.execPath,
        execArgv: [...(options.loader === "node" ? [] : ["--import", "tsx"]), ...(options.nodeOptions ?? []), ...profiling()],
        env: childEnv(options.env ?? {}),
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        stdio: ["ignore", "pipe", "pipe", "ipc"]
      })
      child.stdout?.on("data", remember)
      child.stderr?.on("data", remember)
      child.on("message", (message) => {
        Queue.offerUnsafe(messages, message as ChildMessage)
      })
      child.on("exit", (code, signal) => {
        const how = signal !== null ? `signal ${signal}` : `code ${code}`
        Deferred.doneUnsafe(exited, Effect.succeed(how))
        Queue.failCauseUnsafe(messages, Cause.fail(new ChildError({ child: options.name, message: `exited with ${how}` })))
      })
      return child
    }),
    (child) => stop(child, exited, options.stopTimeoutMs ?? 5_000)
  )
  if (proc.pid === undefined) {
    return yield* new ChildError({ child: options.name, message: "could not be started" })
  }

  let node: string | undefined
  let url: string | undefined
  if (options.speaksIpc) {
    const first = yield* Queue.take(messages).pipe(
      Effect.timeoutOrElse({
        duration: options.readyTimeoutMs ?? 20_000,
        orElse: () => Effect.fail(new ChildError({ child: options.name, message: "not ready in time" }))
      }),
      Effect.mapError((e) => new ChildError({ child: options.name, message: `${e.message}\n${output()}`.trim() }))
    )
    if (first.type === "failed") return yield* new ChildError({ child: options.name, message: first.message })
    if (first.type !== "ready") {
      return yield* new ChildError({ child: options.name, message: `sent ${first.type} before ready` })
    }
    node = first.node
    url = first.url
  }

  const child: Child = {
    name: options.name,
    pid: proc.pid,
    node,
    url,
    send: (message) =>
      Effect.sync(() => {
        if (proc.connected) proc.send(message, ignoreSendError)
      }),
    messages,
    output,
    exited: Deferred.await(exited)
  }
  return child
})

/**
 * A message to a child that is exiting fails (EPIPE) after `connected` said yes; without a callback
 * that failure is an unhandled 'error' event. Its exit is reported by the 'exit' event anyway.
 */
const ignoreSendError = (): void => undefined

/** Asks politely, then insists: stop message, SIGTERM, SIGKILL after the grace time. */
const stop = (child: ChildProcess, exited: Deferred.Deferred<string>, graceMs: number) =>
  Effect.gen(function*() {
    if (child.exitCode !== null || child.signalCode !== null) return
    yield* Effect.sync(() => {
      if (child.connected) child.send({ type: "stop" } satisfies ParentMessage, ignoreSendError)
      child.kill("SIGTERM")
    })
    yield* Deferred.await(exited).pipe(
      Effect.timeoutOrElse({
        duration: graceMs,
        orElse: () =>
          Effect.sync(() => child.kill("SIGKILL")).pipe(
            Effect.andThen(Deferred.await(exited).pipe(Effect.timeoutOrElse({ duration: 2_000, orElse: () => Effect.succeed("unknown") })))
          )
      })
    )
  })
