/**
 * Expected failures at start-up, through the real entry points a person types (`npm start`,
 * `npm run router`, `npm run bench`): each prints one or two lines saying what is wrong (with the
 * offending value, unless it is a secret) and what to do, no stack trace, a non-zero exit code,
 * and nothing left running.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { repoRoot } from "../support/index.js"

interface Finished {
  readonly code: number | null
  /** What the program printed, without npm's own `> wampgres@... start` header. */
  readonly lines: ReadonlyArray<string>
  readonly output: string
}

/** Runs `npm <args>` in the repository with `env` added, to its end. */
const npm = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Finished> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn("npm", args, {
      cwd: repoRoot,
      // LOG_LEVEL from the developer's shell would change what is printed.
      env: { ...process.env, LOG_LEVEL: "", DATABASE_URL: "", PGHOST: "", WAMP_URL: "", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.on("error", reject)
    child.on("close", (code) =>
      resolve({
        code,
        output,
        lines: output.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("> "))
      }))
  })

/** Log lines are `[hh:mm:ss.mmm] LEVEL (#fiber): message`; the message alone. */
const messages = (lines: ReadonlyArray<string>) => lines.map((line) => line.replace(/^\[[\d:.]+\] \w+ \(#\d+\): /, ""))

/** One or two lines of error, nothing that looks like a stack frame. */
const assertShort = (run: Finished, expectedLines: number) => {
  const errorAt = run.lines.findIndex((line) => / ERROR /.test(line))
  assert.isAtLeast(errorAt, 0, run.output)
  assert.strictEqual(run.lines.length - errorAt, expectedLines, run.output)
  assert.notMatch(run.output, /^\s+at /m, "a stack frame")
  assert.notMatch(run.output, /SchemaError|ConfigError|\[cause\]/, "internal error names")
}

const tempDataDir = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "wampgres-startup-"))
    // As root the embedded PostgreSQL runs as the OS user postgres, which must traverse it.
    await Fs.chmod(dir, 0o755)
    return dir
  }),
  (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
)

/** A TCP port held by another program for the scope. */
const takenPort = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<Net.Server>((resolve) => {
      const server = Net.createServer()
      server.listen(0, () => resolve(server))
    })
  ),
  (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

/** A port nothing listens on. */
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
)

const exists = (file: string) => Fs.access(file).then(() => true, () => false)

describe("npm start: expected failures", () => {
  it.live("a bad setting: the variable, its value, what is expected; exit code 2", () =>
    Effect.gen(function*() {
      const run = yield* Effect.promise(() => npm(["start"], { DB_POOL_MAX: "abc" }))
      assert.strictEqual(run.code, 2, run.output)
      assertShort(run, 2)
      assert.deepStrictEqual(messages(run.lines.slice(-2)), [
        `DB_POOL_MAX="abc" is not valid: expected an integer >= 1`,
        "See the settings with: npm start -- --help"
      ])
    }), 60_000)

  it.live("several bad settings are listed together; a secret's value is not shown", () =>
    Effect.gen(function*() {
      const run = yield* Effect.promise(() =>
        npm(["start"], { WAMP_INVOKE: "everyone", DATABASE_URL: "mysql://app:hunter2@db/app" })
      )
      assert.strictEqual(run.code, 2, run.output)
      assertShort(run, 3)
      assert.include(run.output, "DATABASE_URL is not valid: expected a URL like postgres://")
      assert.include(run.output, `WAMP_INVOKE="everyone" is not valid: expected one of single, roundrobin, random, first, last`)
      assert.notInclude(run.output, "hunter2")
    }), 60_000)

  it.live("an unknown argument points to --help; --help itself exits 0", () =>
    Effect.gen(function*() {
      const wrong = yield* Effect.promise(() => npm(["start", "--", "--port", "9000"]))
      assert.strictEqual(wrong.code, 2, wrong.output)
      assert.deepStrictEqual(wrong.lines, [
        "wampgres: unknown argument --port: settings are environment variables, listed by: npm start -- --help"
      ])
      const help = yield* Effect.promise(() => npm(["start", "--", "--help"]))
      assert.strictEqual(help.code, 0, help.output)
      assert.include(help.output, "ROUTER_PORT")
    }), 60_000)

  it.live("a missing router configuration names the file and ROUTER_CONFIG", () =>
    Effect.gen(function*() {
      const dataDir = yield* tempDataDir
      const missing = Path.join(dataDir, "no-such-config.json")
      const run = yield* Effect.promise(() => npm(["start"], { ROUTER_CONFIG: missing, WAMPGRES_DATA_DIR: dataDir }))
      assert.strictEqual(run.code, 1, run.output)
      assertShort(run, 2)
      const [what, todo] = messages(run.lines.slice(-2))
      assert.strictEqual(what, `The router configuration is unusable: ${missing}: cannot read the configuration: ENOENT: no such file or directory, open '${missing}'`)
      assert.include(todo, "ROUTER_CONFIG")
      assert.isFalse(yield* Effect.promise(() => exists(Path.join(dataDir, "postgres", "postmaster.pid"))), "PostgreSQL left running")
    }), 90_000)

  it.live("an invalid router configuration names the JSON path", () =>
    Effect.gen(function*() {
      const dataDir = yield* tempDataDir
      const file = Path.join(dataDir, "config.json")
      yield* Effect.promise(() =>
        Fs.writeFile(file, JSON.stringify({ version: 2, workers: [{ type: "router", realms: [{ name: 5 }], transports: [] }] }))
      )
      const run = yield* Effect.promise(() => npm(["start"], { ROUTER_CONFIG: file, WAMPGRES_DATA_DIR: dataDir }))
      assert.strictEqual(run.code, 1, run.output)
      assertShort(run, 2)
      assert.match(run.output, /The router configuration is unusable: .*config\.json: workers\[0\]\.realms\[0\]\.name/)
    }), 90_000)

  it.live("a taken port names the port and ROUTER_PORT; the embedded PostgreSQL is stopped again", () =>
    Effect.gen(function*() {
      const dataDir = yield* tempDataDir
      const port = yield* takenPort
      const run = yield* Effect.promise(() => npm(["start"], { ROUTER_PORT: String(port), WAMPGRES_DATA_DIR: dataDir }))
      assert.strictEqual(run.code, 1, run.output)
      assertShort(run, 2)
      assert.deepStrictEqual(messages(run.lines.slice(-2)), [
        `The embedded router cannot listen on port ${port}: it is in use by another program.`,
        "Stop that program, or choose another port with ROUTER_PORT=<port> (0 = any free port)."
      ])
      assert.isFalse(yield* Effect.promise(() => exists(Path.join(dataDir, "postgres", "postmaster.pid"))), "PostgreSQL left running")
    }), 90_000)

  it.live("an unreachable database: which one, why, within what time, and the variables to check", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const run = yield* Effect.promise(() =>
        npm(["start"], {
          DATABASE_URL: `postgres://app:hunter2@127.0.0.1:${port}/app`,
          DB_STARTUP_TIMEOUT: "1 second",
          ROUTER_PORT: "0"
        })
      )
      assert.strictEqual(run.code, 1, run.output)
      assertShort(run, 2)
      const [what, todo] = messages(run.lines.slice(-2))
      assert.strictEqual(what, `Database app@127.0.0.1:${port}/app not reachable within 1s: connect ECONNREFUSED 127.0.0.1:${port}`)
      assert.include(todo, "DB_STARTUP_TIMEOUT")
      assert.notInclude(run.output, "hunter2")
    }), 90_000)

  it.live("an unreachable router: the realm, the URL, the time waited, and the variables to check", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const run = yield* Effect.promise(() =>
        npm(["start"], {
          WAMP_URL: `ws://127.0.0.1:${port}/ws`,
          WAMP_JOIN_TIMEOUT: "1 second",
          DATABASE_URL: `postgres://app:x@127.0.0.1:${port}/app`,
          DB_STARTUP_TIMEOUT: "30 seconds"
        })
      )
      assert.strictEqual(run.code, 1, run.output)
      assertShort(run, 2)
      const [what, todo] = messages(run.lines.slice(-2))
      assert.strictEqual(what, `The component could not join realm realm1 at ws://127.0.0.1:${port}/ws within 1s (last: unreachable).`)
      assert.include(todo, "WAMP_URL")
    }), 90_000)

  it.live("with LOG_LEVEL=Debug the same failure shows its stack trace too", () =>
    Effect.gen(function*() {
      const run = yield* Effect.promise(() => npm(["start"], { ROUTER_CONFIG: "/nonexistent/config.json", LOG_LEVEL: "Debug", WAMP_URL: "" }))
      assert.strictEqual(run.code, 1, run.output)
      assert.match(run.output, /^\s+at /m)
      assert.include(run.output, "The router configuration is unusable")
    }), 90_000)
})

describe("npm run router: usage", () => {
  it.live("--help prints the usage and exits 0", () =>
    Effect.gen(function*() {
      const run = yield* Effect.promise(() => npm(["run", "router", "--", "--help"]))
      assert.strictEqual(run.code, 0, run.output)
      assert.strictEqual(run.lines[0], "usage: npm run router -- --config FILE")
      assert.notMatch(run.output, /ERROR/)
    }), 60_000)

  it.live("no --config, or an unknown argument: what is wrong and the usage line; exit code 2", () =>
    Effect.gen(function*() {
      for (const [args, problem] of [[[], "--config FILE is required"], [["--port", "80"], "unknown argument --port"]] as const) {
        const run = yield* Effect.promise(() => npm(["run", "router", "--", ...args]))
        assert.strictEqual(run.code, 2, run.output)
        assertShort(run, 2)
        assert.deepStrictEqual(messages(run.lines.slice(-2)), [problem, "usage: npm run router -- --config FILE (--help for more)"])
      }
    }), 60_000)

  it.live("a missing configuration file: one line naming it; exit code 1", () =>
    Effect.gen(function*() {
      const run = yield* Effect.promise(() => npm(["run", "router", "--", "--config", "/nonexistent/config.json"]))
      assert.strictEqual(run.code, 1, run.output)
      assertShort(run, 1)
      assert.include(run.output, "/nonexistent/config.json: cannot read the configuration: ENOENT")
    }), 60_000)
})

describe("npm run bench: flags", () => {
  it.live("an unknown flag or a bad value: what is wrong and where the flags are; exit code 2", () =>
    Effect.gen(function*() {
      for (
        const [args, problem] of [
          [["--bogus"], "Unrecognized flag: --bogus"],
          [["--sessions", "many"], "--sessions"],
          [["--scenarios", "nope"], `--scenarios: unknown scenario "nope"`]
        ] as const
      ) {
        const run = yield* Effect.promise(() => npm(["run", "bench", "--", ...args]))
        assert.strictEqual(run.code, 2, run.output)
        assert.isAtMost(run.lines.length, 2, run.output)
        assert.include(run.lines[0], problem)
        assert.strictEqual(run.lines[1], "npm run bench -- --help lists the flags")
        assert.notMatch(run.output, /^\s+at /m)
      }
    }), 90_000)
})
