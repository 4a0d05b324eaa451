/** Settings of one benchmark run, from the command line (see `bench/run.ts --help`). */
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
}

export const defaults = {
  durationMs: 6_000,
  warmupMs: 2_000,
  sessions: 4,
  inflight: 50,
  quickDurationMs: 2_000,
  quickWarmupMs: 1_000
} as const
