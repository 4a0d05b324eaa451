/**
 * The standalone command (`npm run router -- --config FILE`) as a child process: it names the
 * workers it does not run, serves WAMP on the configured transport, and stops on SIGTERM.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { openAutobahn, promise, RawClient } from "./support.js"

const cli = path.resolve(import.meta.dirname, "../../src/router/cli.ts")
const seedConfig = path.resolve(import.meta.dirname, "fixtures/config/seed/crossbar-config.json")

/** A TCP port free on every interface just now (the seed's fixed 8080 may be taken on a shared machine). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

interface Run {
  readonly child: ChildProcess
  output: string
  readonly exited: Promise<number | null>
}

/** Starts the CLI with `args`; the child is killed (SIGKILL) if still running at scope end. */
const start = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, ["--import", "tsx", cli, ...args], { stdio: ["ignore", "pipe", "pipe"] })
      const run: Run = { child, output: "", exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))) }
      child.stdout!.on("data", (d: Buffer) => (run.output += d.toString()))
      child.stderr!.on("data", (d: Buffer) => (run.output += d.toString()))
      return run
    }),
    (run) => Effect.sync(() => void (run.child.exitCode === null && run.child.signalCode === null && run.child.kill("SIGKILL")))
  )

const waitFor = (run: Run, pattern: RegExp, ms = 20_000): Promise<RegExpMatchArray> =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const check = (): void => {
      const match = pattern.exec(run.output)
      if (match) return resolve(match)
      if (Date.now() - started > ms || run.child.exitCode !== null) return reject(new Error(`no ${pattern} in:\n${run.output}`))
      setTimeout(check, 50)
    }
    check()
  })

const configFile = Effect.acquireRelease(
  promise(async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "wampgres-cli-"))
    const file = path.join(dir, "config.json")
    await writeFile(file, JSON.stringify({
      version: 2,
      controller: {},
      workers: [
        {
          type: "router",
          realms: [{ name: "realm1", roles: [{ name: "anonymous", permissions: [{ uri: "*", allow: { call: true, register: true, publish: true, subscribe: true } }] }] }],
          transports: [{ type: "web", endpoint: { type: "tcp", port: 0, interface: "127.0.0.1" }, paths: { ws: { type: "websocket" } } }]
        },
        { type: "container", components: [] }
      ]
    }))
    return { dir, file }
  }),
  ({ dir }) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

describe("router CLI", () => {
  it.live("runs the config's router, names skipped workers, and stops on SIGTERM", () =>
    Effect.gen(function*() {
      const { file } = yield* configFile
      const run = yield* start(["--config", file])
      const [, url] = yield* promise(() => waitFor(run, /WAMP router ready at (ws:\/\/\S+)/))
      expect(run.output).toMatch(/not run by the embedded router.*container/)
      const opened = yield* promise(() => openAutobahn(url!))
      expect(yield* promise(() => opened.session.call("wamp.session.count"))).toBe(1)
      run.child.kill("SIGTERM")
      const closed = yield* promise(() => opened.closed)
      expect(closed.details.reason).toBe("wamp.close.system_shutdown")
      const code = yield* promise(() => run.exited)
      expect(code === 0 || code === 130 || code === 143).toBe(true)
      const refused = yield* Effect.flip(promise(() => RawClient.open(url!)))
      expect(refused.message).toContain("ECONNREFUSED")
    }), 40_000)

  it.live("serves the seed's Crossbar configuration, only its port moved to a free one: WAMP on /ws, static files on /", () =>
    Effect.gen(function*() {
      const { dir } = yield* configFile
      const port = yield* promise(freePort)
      const seed = yield* promise(() => readFile(seedConfig, "utf8"))
      expect(seed.match(/"port": 8080/g)).toHaveLength(2)
      const moved = path.join(dir, "seed.json")
      yield* promise(() => writeFile(moved, seed.replaceAll("8080", String(port))))
      const run = yield* start(["--config", moved])
      yield* promise(() => waitFor(run, new RegExp(`WAMP router ready at ws://\\S+:${port}/ws`)))
      const opened = yield* promise(() => openAutobahn(`ws://127.0.0.1:${port}/ws`))
      expect(yield* promise(() => opened.session.call("wamp.session.count"))).toBe(1)
      // The seed's static directory ("../hello/web") does not exist beside the copy: the router answers 404.
      const page = yield* promise(() => fetch(`http://127.0.0.1:${port}/`))
      expect(page.status).toBe(404)
      run.child.kill("SIGTERM")
      yield* promise(() => opened.closed)
      yield* promise(() => run.exited)
    }), 40_000)

  it.live("without --config it prints the usage and fails", () =>
    Effect.gen(function*() {
      const run = yield* start([])
      const code = yield* promise(() => run.exited)
      expect(code).not.toBe(0)
      expect(run.output).toContain("usage: npm run router -- --config FILE")
    }), 40_000)

  it.live("a configuration error names the file and the JSON path", () =>
    Effect.gen(function*() {
      const { dir } = yield* configFile
      const bad = path.join(dir, "bad.json")
      yield* promise(() => writeFile(bad, JSON.stringify({ workers: [{ type: "router", realms: [{ name: 5 }], transports: [] }] })))
      const run = yield* start(["--config", bad])
      const code = yield* promise(() => run.exited)
      expect(code).not.toBe(0)
      expect(run.output).toContain("bad.json")
      expect(run.output).toMatch(/realms\[0\]\.name|realms\.0\.name/)
    }), 40_000)
})
