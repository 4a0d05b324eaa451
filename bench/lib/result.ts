/** The shape of one report row and of the whole report (`bench/results/*.json`). */
import type { LoadResult, Serializer } from "./protocol.js"

/** `database`: the embedded PostgreSQL's postmaster and backends (CPU only). */
export type Role = "router" | "component" | "client" | "database"

export interface RoleFigures {
  /** CPU seconds (user + system) spent inside the measurement window, all instances together. */
  readonly cpuSeconds: number | undefined
  /** CPU seconds per 1,000 successful calls. */
  readonly cpuPer1k: number | undefined
  /** Peak resident set (VmHWM) in bytes, the largest of the role's instances. */
  readonly peakRss: number | undefined
  readonly instances: number
}

export interface RowResult {
  readonly label: string
  readonly scenario: string
  readonly description: string
  readonly serializer: Serializer | undefined
  readonly status: "ok" | "unavailable" | "failed"
  readonly reason?: string
  /** This checkout, first tracing and Node-flag variants: the rows the targets read. */
  readonly reference: boolean
  readonly settings: {
    readonly sessions?: number
    readonly inflight: number
    readonly warmupMs: number
    readonly durationMs: number
    readonly router?: string
    readonly instances?: number
    /** "echo" (bench's echo component) or "service" (src/main.ts). */
    readonly component?: string
    /** Node flags of the service processes. */
    readonly nodeOptions?: ReadonlyArray<string>
    /** Our router and service traced every call to the bench's OTLP receiver. */
    readonly tracing?: boolean
    /** Our router and service from this revision (`rev (commit)`) instead of this checkout. */
    readonly revision?: string
    readonly command?: string
  }
  readonly load?: LoadResult
  readonly roles?: Partial<Record<Role, RoleFigures>>
  /** With tracing on: OTLP export requests and bytes the receiver got during the measured window. */
  readonly tracingExport?: { readonly requests: number; readonly bytes: number }
  /** With `--repeat` above 1: the figures above are the repeats' medians; this is what they spread over. */
  readonly spread?: Spread
  /** With `--repeat` above 1: each repeat's own result, in the order measured. */
  readonly repeats?: ReadonlyArray<RowResult>
}

/** Smallest and largest of a figure over a row's repeats. */
export interface Range {
  readonly min: number
  readonly max: number
}

/** What a row's repeats spread over: calls/s and router + component CPU per 1k calls. */
export interface Spread {
  readonly repeats: number
  readonly callsPerSecond: Range | undefined
  /** CPU seconds per 1k calls of the router and component roles together. */
  readonly routerComponentCpuPer1k: Range | undefined
}

export interface TargetVerdict {
  /** What the target is about: "performance", "memory", "tracing" ("info" for ratios without a target). */
  readonly topic: string
  readonly name: string
  readonly rule: string
  /** The measured ratio or value, undefined when a row it needs is missing. */
  readonly value: number | undefined
  readonly met: boolean | undefined
  readonly detail: string
  /** A ratio worth reading without a target (scale-out, baselines). */
  readonly informational?: boolean
}

export interface Report {
  readonly startedAt: string
  readonly finishedAt: string
  readonly machine: Readonly<Record<string, unknown>>
  readonly versions: Readonly<Record<string, string>>
  readonly settings: Readonly<Record<string, unknown>>
  readonly database: Readonly<Record<string, unknown>> | undefined
  readonly rows: ReadonlyArray<RowResult>
  readonly targets: ReadonlyArray<TargetVerdict>
}
