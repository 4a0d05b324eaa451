/**
 * Support for the Autobahn|Python interop tests: whether Debian's python3-autobahn is there, Python
 * peers as child processes that report JSON lines, and the typed view of values those reports use.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as Path from "node:path"
import * as Readline from "node:readline"

/** Debian's interpreter: its dist-packages hold python3-autobahn (a pyenv `python3` on PATH would not). */
export const PYTHON = "/usr/bin/python3"

export const pythonDir = Path.join(import.meta.dirname, "python")

/** Why Autobahn|Python cannot run here, or undefined when it can. */
export const autobahnPythonMissing = (): string | undefined => {
  const probe = spawnSync(PYTHON, ["-c", "import autobahn, msgpack, cbor2, twisted, psycopg2"], { encoding: "utf8" })
  if (probe.error !== undefined) return `${PYTHON}: ${probe.error.message}`
  return probe.status === 0 ? undefined : probe.stderr.trim().split("\n").at(-1)
}

export type Report = Record<string, unknown> & { readonly event: string }

/** A Python process that reports one JSON object per stdout line (other lines: `{ event: "output", line }`). */
export class PythonProcess {
  readonly reports: Array<Report> = []
  #stderr = ""
  readonly #waiters = new Set<() => void>()
  /** Resolves with the exit code (null when killed by a signal) and everything written to stderr. */
  readonly exited: Promise<{ readonly code: number | null; readonly stderr: string }>

  constructor(readonly label: string, private readonly child: ChildProcess) {
    Readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      let report: Report
      try {
        report = JSON.parse(line) as Report
      } catch {
        // plain output (logs, print): kept as a report too, to wait for a line
        report = { event: "output", line }
        this.#stderr += `(stdout) ${line}\n`
      }
      this.reports.push(report)
      for (const wake of this.#waiters) wake()
    })
    child.stderr!.on("data", (chunk: Buffer) => (this.#stderr += chunk.toString()))
    this.exited = new Promise((resolve) =>
      child.on("close", (code) => {
        resolve({ code, stderr: this.#stderr })
        for (const wake of this.#waiters) wake()
      })
    )
  }

  static start(script: string, args: ReadonlyArray<string>, label: string, env?: NodeJS.ProcessEnv): PythonProcess {
    const child = spawn(PYTHON, ["-u", Path.join(pythonDir, script), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env }
    })
    return new PythonProcess(label, child)
  }

  /** The first report matching `predicate`; rejects if the process exits first or after `timeoutMs`. */
  waitFor(predicate: (report: Report) => boolean, timeoutMs = 30_000): Promise<Report> {
    return new Promise((resolve, reject) => {
      let exited = false
      void this.exited.then(() => (exited = true))
      const check = (): boolean => {
        const found = this.reports.find(predicate)
        if (found !== undefined) {
          done()
          resolve(found)
          return true
        }
        if (exited || this.child.exitCode !== null || this.child.signalCode !== null) {
          done()
          reject(new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) without the report:\n${this.#stderr}`))
          return true
        }
        return false
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${this.label}: no such report within ${timeoutMs} ms; reports: ${JSON.stringify(this.reports)}\n${this.#stderr}`))
      }, timeoutMs)
      const wake = (): void => void check()
      const done = (): void => {
        clearTimeout(timer)
        this.#waiters.delete(wake)
      }
      this.#waiters.add(wake)
      check()
    })
  }

  /** Waits for the process to end by itself; fails with its stderr unless it exits with 0. */
  async succeeds(timeoutMs = 30_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const result = await Promise.race([
      this.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${this.label} still runs after ${timeoutMs} ms:\n${this.#stderr}`)), timeoutMs)
      })
    ]).finally(() => clearTimeout(timer))
    if (result.code !== 0) throw new Error(`${this.label} exited with ${result.code}:\n${result.stderr}`)
  }

  /** SIGTERM (the runner leaves the session and exits), then waits for the exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM")
    await this.exited
  }

  get stderr(): string {
    return this.#stderr
  }
}

/**
 * A JS value as the Python peers report what they received (`typed` in client.py): integers in
 * [-2^53, 2^53] as ["int", digits], other numbers as ["float", repr], strings, bytes as hex, lists
 * and dicts.
 */
export type Typed = ReadonlyArray<unknown>

export const typed = (value: unknown): Typed => {
  if (typeof value === "boolean") return ["bool", value]
  if (typeof value === "number") {
    return Number.isInteger(value) && Math.abs(value) <= 2 ** 53 ? ["int", String(value)] : ["float", String(value)]
  }
  if (typeof value === "bigint") return ["int", value.toString()]
  if (typeof value === "string") return ["str", value]
  if (value instanceof Uint8Array) return ["bytes", Buffer.from(value).toString("hex")]
  if (value === null) return ["null"]
  if (Array.isArray(value)) return ["list", value.map(typed)]
  return ["dict", Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, typed(v)]))]
}
