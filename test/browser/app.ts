/**
 * The application as a user runs it: `src/main.ts` in a child process (Node 24 + tsx) with the
 * router on a free port, and a probe that waits until its procedures answer over WAMP.
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "../..")

/** A port nobody listens on right now (the OS picks it; released before use). */
export const freePort: Effect.Effect<number, Error> = Effect.callback<number, Error>((resume) => {
  const server = Net.createServer()
  server.once("error", (error) => resume(Effect.fail(error)))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A running `src/main.ts`. */
export interface App {
  readonly port: number
  readonly baseUrl: string
  /** Everything the process wrote so far (stdout and stderr), for failure messages. */
  readonly output: () => string
  /** Stops the process (SIGTERM, then SIGKILL to its group after 10 s); idempotent. */
  readonly stop: Effect.Effect<void>
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

const stopChild = (child: ChildProcess): Effect.Effect<void> =>
  Effect.promise(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill("SIGTERM")
    const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 10_000).unref())
    if (await Promise.race([exited(child), timer]) === "timeout" && child.pid !== undefined) {
      try {
        process.kill(-child.pid, "SIGKILL")
      } catch {
        // the group is already gone
      }
      await exited(child)
    }
  })

/**
 * Starts `src/main.ts` with `ROUTER_PORT=port` and `env`, and stops it with the scope. Resolves once
 * every procedure in `procedures` answers a WAMP call with a result.
 */
export const startApp = (options: {
  readonly port: number
  readonly env: Readonly<Record<string, string>>
  readonly procedures: ReadonlyArray<string>
  readonly realm?: string
}): Effect.Effect<App, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const chunks: Array<string> = []
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
          cwd: root,
          env: { ...process.env, ...options.env, ROUTER_PORT: String(options.port) },
          stdio: ["ignore", "pipe", "pipe"],
          detached: true // its own process group, so a stuck child and its postgres can be killed together
        })
        child.stdout?.on("data", (data: Buffer) => chunks.push(data.toString()))
        child.stderr?.on("data", (data: Buffer) => chunks.push(data.toString()))
        return child
      }),
      stopChild
    )
    const app: App = {
      port: options.port,
      baseUrl: `http://127.0.0.1:${options.port}`,
      output: () => chunks.join(""),
      stop: stopChild(child)
    }
    const wsUrl = `ws://127.0.0.1:${options.port}/ws`
    yield* Effect.forEach(options.procedures, (procedure) =>
      Effect.suspend(() =>
        child.exitCode !== null
          ? Effect.die(new Error(`src/main.ts exited with ${child.exitCode}:\n${app.output()}`))
          : wampCall(wsUrl, options.realm ?? "realm1", procedure)
      ).pipe(
        Effect.retry(Schedule.spaced("200 millis")),
        Effect.timeoutOrElse({
          duration: "60 seconds",
          orElse: () =>
            Effect.fail(new Error(`${procedure} did not answer at ${wsUrl} within 60 s; output:\n${app.output()}`))
        })
      ), { discard: true })
    return app
  })

/**
 * One WAMP call over JSON on a fresh WebSocket session (HELLO, CALL, GOODBYE): succeeds with the
 * RESULT's positional arguments, fails on ERROR or transport trouble.
 */
export const wampCall = (
  url: string,
  realm: string,
  procedure: string
): Effect.Effect<ReadonlyArray<unknown>, Error> =>
  Effect.callback<ReadonlyArray<unknown>, Error>((resume) => {
    const socket = new WebSocket(url, ["wamp.2.json"])
    let settled = false
    const settle = (effect: Effect.Effect<ReadonlyArray<unknown>, Error>) => {
      if (settled) return
      settled = true
      try {
        socket.close()
      } catch {
        // already closed
      }
      resume(effect)
    }
    socket.onopen = () => socket.send(JSON.stringify([1, realm, { roles: { caller: {} } }]))
    socket.onerror = () => settle(Effect.fail(new Error(`WebSocket error at ${url}`)))
    socket.onclose = () => settle(Effect.fail(new Error(`WebSocket closed at ${url}`)))
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as Array<unknown>
      switch (message[0]) {
        case 2: // WELCOME
          socket.send(JSON.stringify([48, 1, {}, procedure]))
          break
        case 50: // RESULT
          settle(Effect.succeed((message[3] ?? []) as ReadonlyArray<unknown>))
          break
        case 8: // ERROR
          settle(Effect.fail(new Error(`${procedure}: ${String(message[4])}`)))
          break
        case 3: // ABORT
          settle(Effect.fail(new Error(`session aborted: ${String(message[2])}`)))
          break
      }
    }
    return Effect.sync(() => settle(Effect.fail(new Error("interrupted"))))
  })
