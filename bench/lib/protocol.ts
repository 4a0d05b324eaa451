/**
 * Messages between the benchmark orchestrator (`bench/run.ts`) and its child processes over
 * Node's IPC channel. Plain JSON-safe records: children are separate Node processes.
 */

/** Serializers the load client can speak (autobahn: JSONSerializer, MsgpackSerializer via msgpack5). */
export type Serializer = "json" | "msgpack"

/** The workloads a load client knows how to drive and check (see `workloads.ts`). */
export type WorkloadName = "echo" | "now.v1" | "now.v3" | "ledger.transfer" | "ledger.history"

/** What the orchestrator asks of a load client. */
export interface LoadConfig {
  readonly url: string
  readonly realm: string
  readonly serializer: Serializer
  readonly workload: WorkloadName
  readonly sessions: number
  /** Calls in flight across all sessions together. */
  readonly inflight: number
  readonly warmupMs: number
  readonly durationMs: number
  /** How long to wait for the procedure to become callable (component start-up). */
  readonly readyTimeoutMs: number
  /** With scale-out: wait until the router lists this many callees (WAMP meta API). */
  readonly expectCallees?: number
  /** Distinguishes data written by this run (ledger owners). */
  readonly runId: string
}

/** What a baseline driver without WAMP (`sqlpg-direct.ts`) is asked to do. */
export interface SqlDirectConfig {
  readonly databaseUrl: string
  readonly inflight: number
  readonly warmupMs: number
  readonly durationMs: number
  readonly maxConnections: number
  readonly minConnections: number
  readonly multiplex: boolean
  /** Each statement in its own transaction. */
  readonly transaction: boolean
}

/** Latency summary in milliseconds. */
export interface LatencySummary {
  readonly count: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

/** One load run's outcome, measured only inside the measurement window. */
export interface LoadResult {
  /** Calls completed (successful and checked, or failed) inside the window. */
  readonly calls: number
  readonly ok: number
  readonly errors: number
  /** Up to a few distinct error messages with their counts. */
  readonly errorSamples: ReadonlyArray<{ readonly message: string; readonly count: number }>
  readonly windowMs: number
  readonly callsPerSecond: number
  /** Latency of successful calls. */
  readonly latency: LatencySummary
  /** Rows received per second (streaming workloads only). */
  readonly rowsPerSecond?: number
  /** Workload-level checks after the run (e.g. the ledger's sum of balances), each with its verdict. */
  readonly finalChecks: ReadonlyArray<{ readonly name: string; readonly ok: boolean; readonly detail: string }>
}

export type Phase = "connect" | "setup" | "warmup" | "measure" | "drain"

/** Child → orchestrator. */
export type ChildMessage =
  | { readonly type: "ready"; readonly node: string; readonly url?: string }
  | { readonly type: "phase"; readonly phase: Phase }
  | { readonly type: "progress"; readonly phase: Phase; readonly calls: number; readonly errors: number; readonly elapsedMs: number }
  | { readonly type: "result"; readonly result: LoadResult }
  | { readonly type: "failed"; readonly message: string }
  /** An echo component's answer to `report-served`: invocations it handled so far. */
  | { readonly type: "served"; readonly count: number }

/** Orchestrator → child. */
export type ParentMessage =
  | { readonly type: "run-load"; readonly config: LoadConfig }
  | { readonly type: "run-sql"; readonly config: SqlDirectConfig }
  | { readonly type: "report-served" }
  | { readonly type: "stop" }
