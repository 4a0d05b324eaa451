/** Settings of one benchmark run, from the command line (see `bench/run.ts --help`). */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import type { Serializer } from "./protocol.js"

export interface BenchOptions {
  readonly durationMs: number
  readonly warmupMs: number
  readonly sessions: number
  /** Calls in flight across all sessions. */
  readonly inflight: number
  /** Scenario ids to run; empty = all. */
  readonly scenarios: ReadonlyArray<string>
  readonly serializers: ReadonlyArray<Serializer>
  readonly realm: string
  /** An external router for the `wampgres` rows (its CPU cannot be measured). */
  readonly wampUrl: string | undefined
  /** An external PostgreSQL instead of the embedded one. */
  readonly databaseUrl: string | undefined
  /** Pool size of the service and the sql-pg baseline (the service's defaults). */
  readonly poolMin: number
  readonly poolMax: number
  readonly resultsDir: string
  /**
   * Node flags of the service processes (src/main.ts), one entry per variant: each service row
   * runs once per variant. Default: one variant, the flags of `npm start`.
   */
  readonly serviceNodeOptions: ReadonlyArray<ReadonlyArray<string>>
  /**
   * Tracing of our router and the service, one entry per variant (`--tracing=off,on`): each row that
   * runs wampgres code runs once per variant. Default: off only.
   */
  readonly tracing: ReadonlyArray<boolean>
  /** Other revisions (`--service-revision`) whose router and service run beside this checkout's. */
  readonly serviceRevisions: ReadonlyArray<string>
}

/**
 * The Node flags `npm start` gives the service: the words between `node` (or `tsx`) and its entry
 * point (`dist/main.js`, or `--import tsx src/main.ts`) in package.json's start script, so the bench
 * measures what users run.
 */
export const startScriptNodeOptions = (): Array<string> => {
  try {
    const pkg = JSON.parse(readFileSync(join(process.cwd(), "package.json"), "utf8")) as { scripts?: { start?: string } }
    const match = /(?:^|\s)(?:node|tsx)\s+(.*?)\s*(?:(?:--import\s+tsx\s+)?src\/main\.ts|dist\/main\.js)/.exec(pkg.scripts?.start ?? "")
    return match?.[1] === undefined ? [] : match[1].split(/\s+/).filter((w) => w !== "")
  } catch {
    return []
  }
}

export const defaults = {
  durationMs: 6_000,
  warmupMs: 2_000,
  sessions: 4,
  inflight: 50,
  quickDurationMs: 2_000,
  quickWarmupMs: 1_000
} as const
