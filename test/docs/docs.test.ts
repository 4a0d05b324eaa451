/**
 * The documentation runs as written: every fenced block of README.md and docs/ledger.md is either
 * run here or says why not. The service is started with the README's supervisor command (on a free
 * port, in a temporary data directory); then each `sh` and `js` block runs in order, as a reader
 * would run it in the project directory, and what it prints is compared with the `<!-- output -->`
 * block after it (numbers may differ). Events the docs promise are checked on a subscriber, and the
 * service must exit 0 on SIGTERM.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as FsP from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { startScriptNodeOptions } from "../../bench/lib/options.js"
import { clientSession, repoRoot } from "../support/index.js"
import { type Block, blocks, shapeOf } from "./blocks.js"

const documents = ["README.md", "docs/ledger.md"]
const all: ReadonlyArray<Block> = documents.flatMap((file) => blocks(file, Fs.readFileSync(Path.join(repoRoot, file), "utf8")))
const where = (block: Block) => `${block.file}:${block.line}`

/** The runnable blocks, each with the output block that follows it, if any. */
const runnable = all.flatMap((block, i) => {
  if (block.annotation !== undefined) return []
  const next = all[i + 1]
  return [{ block, output: next?.annotation?._tag === "Output" && next.file === block.file ? next : undefined }]
})

/** The topic the ledger's NOTIFY_BRIDGE example names. */
const ordersBridge = "orders=com.example.orders.on_change"

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (command: string, args: ReadonlyArray<string>, env: Record<string, string>): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

describe("docs", () => {
  it("every block is run by this test, or is marked with the reason it is not", () => {
    assert.isAbove(all.length, 10)
    for (const block of all) {
      const annotation = block.annotation
      if (annotation === undefined) {
        assert.include(["sh", "js"], block.lang, `${where(block)}: a ${block.lang || "plain"} block needs <!-- not run: reason -->`)
      } else {
        assert.notStrictEqual(annotation._tag, "Unknown", `${where(block)}: unknown annotation`)
        if (annotation._tag === "NotRun") assert.isAbove(annotation.reason.length, 10, `${where(block)}: say why it is not run`)
      }
    }
    assert.strictEqual(all.filter((b) => b.annotation?._tag === "Service").length, 1, "one service command")
    assert.isAtLeast(runnable.length, 4)
  })

  it("the supervisor command runs the compiled service (dist/main.js) with the Node flags of npm start", () => {
    const service = all.find((b) => b.annotation?._tag === "Service")!.code.trim()
    const flags = startScriptNodeOptions()
    assert.isAbove(flags.length, 0)
    assert.strictEqual(service, `node_modules/.bin/node ${flags.join(" ")} dist/main.js`)
  })

  it("the NOTIFY_BRIDGE example of docs/ledger.md is the one this test starts the service with", () => {
    assert.include(Fs.readFileSync(Path.join(repoRoot, "docs/ledger.md"), "utf8"), `NOTIFY_BRIDGE="${ordersBridge}" npm start`)
  })

  it.live("against the running service, each command block prints what the docs show", () =>
    Effect.gen(function*() {
      const dataDir = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const dir = await FsP.mkdtemp(Path.join(Os.tmpdir(), "wampgres-docs-"))
          await FsP.chmod(dir, 0o755) // the embedded PostgreSQL may run as the OS user postgres
          return dir
        }),
        (dir) => Effect.promise(() => FsP.rm(dir, { recursive: true, force: true }))
      )
      // Scripts live in the project (as the README says) so that `import "autobahn"` resolves.
      const scripts = yield* Effect.acquireRelease(
        Effect.promise(() => FsP.mkdtemp(Path.join(repoRoot, ".data", "docs-test-")).catch(async () => {
          await FsP.mkdir(Path.join(repoRoot, ".data"), { recursive: true })
          return FsP.mkdtemp(Path.join(repoRoot, ".data", "docs-test-"))
        })),
        // .data itself goes too when the scripts were all it held (rmdir refuses a non-empty one)
        (dir) =>
          Effect.promise(() =>
            FsP.rm(dir, { recursive: true, force: true }).then(() => FsP.rmdir(Path.join(repoRoot, ".data")).catch(() => undefined))
          )
      )
      const env: Record<string, string> = {
        WAMPGRES_DATA_DIR: dataDir,
        ROUTER_PORT: "0",
        NOTIFY_BRIDGE: ordersBridge,
        DATABASE_URL: "",
        PGHOST: "",
        WAMP_URL: "",
        LOG_LEVEL: "Info"
      }

      // The service, started with the README's supervisor command.
      const service = all.find((b) => b.annotation?._tag === "Service")!
      const child = ChildProcess.spawn("sh", ["-c", `exec ${service.code.trim()}`], {
        cwd: repoRoot,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let log = ""
      child.stdout.on("data", (chunk: Buffer) => (log += chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => (log += chunk.toString()))
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      yield* Effect.addFinalizer(() => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL")))
      const waitFor = (pattern: RegExp) =>
        Effect.promise(async () => {
          for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
            const match = pattern.exec(log)
            if (match !== null) return match
            if (child.exitCode !== null) break
            await new Promise((resolve) => setTimeout(resolve, 100))
          }
          throw new Error(`no ${pattern} in the service's output:\n${log}`)
        })
      const [, port] = yield* waitFor(/Web page at http:\/\/127\.0\.0\.1:(\d+)\//)
      yield* waitFor(/registered 5 procedures \{ group: .ledger. \}/)
      yield* waitFor(/LISTEN orders → com\.example\.orders\.on_change/)

      // A subscriber, to check the events the docs promise.
      const events: Array<{ topic: string; args: ReadonlyArray<unknown> }> = []
      const session = yield* clientSession(`ws://127.0.0.1:${port}/ws`)
      for (const topic of ["com.example.ledger.on_account_change", "com.example.orders.on_change"]) {
        yield* Effect.promise(() => session.subscribe(topic, (args) => void events.push({ topic, args: args ?? [] })))
      }

      for (const [i, { block, output }] of runnable.entries()) {
        const code = block.code.replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`)
        let ran: Ran
        if (block.lang === "js") {
          const file = Path.join(scripts, `block-${i}.mjs`)
          yield* Effect.promise(() => FsP.writeFile(file, code))
          ran = yield* Effect.promise(() => run(process.execPath, [file], env))
        } else {
          ran = yield* Effect.promise(() => run("sh", ["-e", "-c", code], env))
        }
        const shown = `${where(block)} printed:\n${ran.stdout}\n${ran.stderr}`
        assert.strictEqual(ran.code, 0, shown)
        if (output !== undefined) {
          const actual = ran.stdout.trimEnd().split("\n")
          const expected = output.code.trimEnd().split("\n")
          assert.strictEqual(actual.length, expected.length, shown)
          expected.forEach((line, n) => assert.match(actual[n]!, shapeOf(line), shown))
        }
      }

      // docs/ledger.md: the NOTIFY reaches orders; grace's balance from psql reaches grace only, not
      // this subscriber (another authid).
      const received = (topic: string, check: (args: ReadonlyArray<unknown>) => boolean) =>
        Effect.promise(async () => {
          for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
            if (events.some((e) => e.topic === topic && check(e.args))) return
            await new Promise((resolve) => setTimeout(resolve, 100))
          }
          throw new Error(`no matching event on ${topic}: ${JSON.stringify(events)}`)
        })
      yield* received("com.example.orders.on_change", (args) => JSON.stringify(args[0]) === JSON.stringify({ id: 7, status: "paid" }))
      assert.isFalse(
        events.some((e) => e.topic === "com.example.ledger.on_account_change" && (e.args[0] as { balance?: number })?.balance === 500),
        JSON.stringify(events)
      )

      // The README: the supervisor command exits 0 on SIGTERM and leaves no PostgreSQL behind.
      child.kill("SIGTERM")
      assert.strictEqual(yield* Effect.promise(() => exited), 0, log)
      assert.isFalse(Fs.existsSync(Path.join(dataDir, "postgres", "postmaster.pid")), "PostgreSQL left running")
    }), 180_000)
})
