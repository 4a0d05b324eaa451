/**
 * The service as a child process for the end-to-end tests: src/main.ts (or npm start) with its
 * output tracked, waits on its log lines and on conditions with generous ceilings, its embedded
 * PostgreSQL found through postmaster.pid and used with psql, and a WebSocket relay that records
 * what the component sends.
 */
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { WebSocket, WebSocketServer } from "ws"
import { type RunningRouter, startRouter } from "../../src/router/index.js"
import { openRealm, testConfig } from "../router/support.js"
import { repoRoot } from "../support/index.js"

export const L = "com.example.ledger"
export const GOODBYE = 6

export interface Running {
  readonly child: ChildProcess.ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
}

export const track = (child: ChildProcess.ChildProcess): Running => {
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, output: () => output, exited }
}

/** Waits for `pattern` in the output (events, with a generous ceiling). */
export const waitFor = async (running: Running, pattern: RegExp, ms = 60_000): Promise<RegExpMatchArray> => {
  for (const deadline = Date.now() + ms; Date.now() < deadline;) {
    const match = running.output().match(pattern)
    if (match !== null) return match
    if (running.child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`no ${pattern} in the output of src/main.ts:\n${running.output()}`)
}

/** Waits until `check` resolves true, with a generous ceiling. */
export const until = async (what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> => {
  for (const deadline = Date.now() + ms; !(await check());) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A temporary WAMPGRES_DATA_DIR, readable by PostgreSQL's OS user when running as root. */
export const dataDirectory = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "wampgres-shutdown-"))
    await Fs.chmod(dir, 0o755)
    return dir
  }),
  (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
)

/** The service's embedded PostgreSQL, from its postmaster.pid: PID and TCP port. */
/** The cluster's data directory by its port, for psql (filled by `postmasterOf`). */
const clusterByPort = new Map<number, string>()

export const postmasterOf = async (dataDir: string): Promise<{ readonly pid: number; readonly port: number }> => {
  const lines = (await Fs.readFile(Path.join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")
  const port = Number.parseInt(lines[3]!, 10)
  clusterByPort.set(port, Path.join(dataDir, "postgres"))
  return { pid: Number.parseInt(lines[0]!, 10), port }
}

/**
 * psql as the cluster's superuser in the service's database, over the Unix socket in the data
 * directory (the embedded PostgreSQL listens on no TCP port), with the password from the cluster's
 * owner-only credentials file: the superuser sees every owner's rows.
 */
export const psqlEnv = (port: number) => {
  const cluster = clusterByPort.get(port)
  if (cluster === undefined) throw new Error(`no cluster known on port ${port}: call postmasterOf first`)
  const credentials = JSON.parse(NodeFs.readFileSync(`${cluster}.credentials.json`, "utf8")) as { superuser: string }
  return { ...process.env, PGHOST: cluster, PGPORT: String(port), PGUSER: "postgres", PGPASSWORD: credentials.superuser, PGDATABASE: "wampgres" }
}

/** Sets an account's balance as the admin authrole would (mint), through psql. */
export const fund = (port: number, account: number, balance: number): Promise<string> =>
  psql(port, `BEGIN; SELECT set_config('wampgres.authrole', 'admin', true); UPDATE ledger_accounts SET balance = ${balance} WHERE id = ${account}; COMMIT`)

/** One statement through psql; its unaligned output. */
export const psql = (port: number, statement: string): Promise<string> =>
  new Promise((resolve, reject) =>
    ChildProcess.execFile("psql", ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", statement], { env: psqlEnv(port) }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout.trim()))
  )

/** A second connection holding a row lock on an account until `release`. */
export const lockAccount = (port: number, account: number) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const child = ChildProcess.spawn("psql", ["-X", "-At", "-v", "ON_ERROR_STOP=1"], { env: psqlEnv(port), stdio: ["pipe", "pipe", "pipe"] })
      const running = track(child)
      child.stdin.write(`BEGIN;\nSELECT id FROM ledger_accounts WHERE id = ${account} FOR UPDATE;\n\\echo locked\n`)
      await waitFor(running, /^locked$/m, 30_000)
      return {
        release: async () => {
          child.stdin.end("ROLLBACK;\n\\q\n")
          await running.exited
        },
        child
      }
    }),
    ({ child }) => Effect.sync(() => void (child.exitCode === null && child.kill("SIGKILL")))
  )

/** Statements of other connections waiting for a lock. */
export const waitingForLock = async (port: number): Promise<number> =>
  Number(await psql(port, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))

/**
 * A WebSocket relay between the component and the router: forwards every frame, records the
 * component's messages (WAMP_SERIALIZER=json), and can stop forwarding them (a router that hangs).
 */
export const relay = (upstream: string) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ url: string; sent: Array<ReadonlyArray<unknown>>; freeze: () => void; server: WebSocketServer }>((resolve) => {
        const sent: Array<ReadonlyArray<unknown>> = []
        let frozen = false
        const server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false })
        server.on("connection", (down) => {
          const up = new WebSocket(upstream, down.protocol)
          const early: Array<{ data: Buffer; binary: boolean }> = []
          up.on("open", () => early.splice(0).forEach((m) => up.send(m.data, { binary: m.binary })))
          down.on("message", (data: Buffer, binary) => {
            if (frozen) return
            if (!binary) sent.push(JSON.parse(data.toString()) as ReadonlyArray<unknown>)
            if (up.readyState === up.OPEN) up.send(data, { binary })
            else early.push({ data, binary })
          })
          up.on("message", (data: Buffer, binary) => !frozen && down.send(data, { binary }))
          down.on("close", () => !frozen && up.close())
          up.on("close", () => !frozen && down.close())
          down.on("error", () => {})
          up.on("error", () => {})
        })
        server.on("listening", () => {
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          resolve({ url: `ws://127.0.0.1:${port}/ws`, sent, freeze: () => (frozen = true), server })
        })
      })
    ),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          for (const client of server.clients) client.terminate()
          server.close(() => resolve())
        })
      )
  )

export const testRouter = Effect.acquireRelease(
  Effect.promise(() => startRouter(testConfig({ realms: [openRealm] }))),
  (r: RunningRouter) => Effect.promise(() => r.close())
)

/** src/main.ts with the embedded PostgreSQL in `dataDir`, joined through `wampUrl`. */
export const service = (dataDir: string, wampUrl: string, env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      track(ChildProcess.spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
        cwd: repoRoot,
        env: {
          ...process.env,
          WAMPGRES_DATA_DIR: dataDir,
          WAMP_URL: wampUrl,
          WAMP_SERIALIZER: "json",
          DATABASE_URL: "",
          PGHOST: "",
          LOG_LEVEL: "Info",
          ...env
        },
        stdio: ["ignore", "pipe", "pipe"]
      }))
    ),
    (running) =>
      Effect.promise(async () => {
        if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill("SIGKILL")
        await running.exited
        // a service killed here leaves its PostgreSQL: stop it too
        const postmaster = await postmasterOf(dataDir).catch(() => undefined)
        if (postmaster !== undefined && isAlive(postmaster.pid)) {
          process.kill(postmaster.pid, "SIGKILL")
          await until("the left-behind PostgreSQL ends", () => !isAlive(postmaster.pid))
        }
      })
  )

