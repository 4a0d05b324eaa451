/**
 * `--repeat N`: every row measured N times, the variants of one scenario interleaved (A B C A B C),
 * so slow drifts of a shared machine hit all variants alike; each row reported once with the
 * medians of its repeats (peak RSS: the largest), the spread beside them, every repeat kept.
 */
import type { LatencySummary } from "./protocol.js"
import type { Range, Role, RoleFigures, RowResult } from "./result.js"

/** The middle value (the mean of the two middle ones for an even count); undefined when empty. */
export const median = (values: ReadonlyArray<number>): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** One measurement to take: the row's index and which repeat (1-based). */
export interface Step {
  readonly row: number
  readonly repeat: number
}

/**
 * The order of the measurements: rows grouped by `groupOf` (the variants of one scenario), groups
 * in order of first appearance; within a group, each repeat runs every member once (A B C A B C).
 */
export const interleave = <R>(rows: ReadonlyArray<R>, repeat: number, groupOf: (row: R) => string): Array<Step> => {
  const groups = new Map<string, Array<number>>()
  rows.forEach((row, i) => groups.set(groupOf(row), [...(groups.get(groupOf(row)) ?? []), i]))
  const steps: Array<Step> = []
  for (const members of groups.values()) {
    for (let r = 1; r <= repeat; r++) for (const i of members) steps.push({ row: i, repeat: r })
  }
  return steps
}

const range = (values: ReadonlyArray<number | undefined>): Range | undefined => {
  const known = values.filter((v): v is number => v !== undefined)
  return known.length === 0 ? undefined : { min: Math.min(...known), max: Math.max(...known) }
}

/** Router + component CPU seconds per 1k calls; undefined unless both roles were measured. */
export const routerComponentCpu = (row: RowResult): number | undefined => {
  const router = row.roles?.router?.cpuPer1k
  const component = row.roles?.component?.cpuPer1k
  return router === undefined || component === undefined ? undefined : router + component
}

const medianOf = <T>(items: ReadonlyArray<T>, pick: (t: T) => number | undefined): number | undefined =>
  median(items.map(pick).filter((v): v is number => v !== undefined))

const combineRole = (figures: ReadonlyArray<RoleFigures | undefined>): RoleFigures | undefined => {
  const known = figures.filter((f): f is RoleFigures => f !== undefined)
  const first = known[0]
  if (first === undefined) return undefined
  const peaks = known.map((f) => f.peakRss).filter((v): v is number => v !== undefined)
  return {
    cpuSeconds: medianOf(known, (f) => f.cpuSeconds),
    cpuPer1k: medianOf(known, (f) => f.cpuPer1k),
    peakRss: peaks.length === 0 ? undefined : Math.max(...peaks),
    instances: first.instances
  }
}

const ROLES: ReadonlyArray<Role> = ["router", "component", "client", "database"]

/**
 * One row from its repeats (in the order measured). A single repeat is returned as it is. A failed
 * or unavailable repeat makes the row so (its reason names the repeat). Otherwise calls/s, latency
 * and CPU figures are the medians, errors the sum, peak RSS the largest, final checks those of every
 * repeat that failed one (else the median row's); `repeats` keeps each repeat's own result.
 */
export const combineRepeats = (repeats: ReadonlyArray<RowResult>): RowResult => {
  const first = repeats[0]
  if (first === undefined) throw new Error("combineRepeats: no repeat")
  if (repeats.length === 1) return first
  const bad = repeats.findIndex((r) => r.status !== "ok")
  if (bad >= 0) {
    const failed = repeats[bad] as RowResult
    return { ...failed, reason: `repeat ${bad + 1}/${repeats.length}: ${failed.reason ?? ""}`, repeats: [...repeats] }
  }
  const loads = repeats.flatMap((r) => r.load === undefined ? [] : [r.load])
  const rates = loads.map((l) => l.callsPerSecond)
  const middle = median(rates)
  // The repeat closest to the median calls/s lends the figures that have no median (error samples).
  const base = repeats.reduce((a, b) =>
    Math.abs((b.load?.callsPerSecond ?? 0) - (middle ?? 0)) < Math.abs((a.load?.callsPerSecond ?? 0) - (middle ?? 0)) ? b : a
  )
  const latencyKeys = Object.keys(loads[0]?.latency ?? {}) as Array<keyof LatencySummary>
  const latency = Object.fromEntries(latencyKeys.map((k) => [k, medianOf(loads, (l) => l.latency[k])])) as unknown as LatencySummary
  const failedChecks = loads.flatMap((l) => l.finalChecks.filter((c) => !c.ok))
  const load = base.load === undefined
    ? undefined
    : {
      ...base.load,
      calls: medianOf(loads, (l) => l.calls) ?? 0,
      ok: medianOf(loads, (l) => l.ok) ?? 0,
      errors: loads.reduce((sum, l) => sum + l.errors, 0),
      errorSamples: loads.flatMap((l) => l.errorSamples),
      callsPerSecond: middle ?? 0,
      latency,
      ...(base.load.rowsPerSecond === undefined ? {} : { rowsPerSecond: medianOf(loads, (l) => l.rowsPerSecond) ?? 0 }),
      finalChecks: failedChecks.length > 0 ? failedChecks : base.load.finalChecks
    }
  const roles: Partial<Record<Role, RoleFigures>> = {}
  for (const role of ROLES) {
    const combined = combineRole(repeats.map((r) => r.roles?.[role]))
    if (combined !== undefined) roles[role] = combined
  }
  const exports = repeats.flatMap((r) => r.tracingExport === undefined ? [] : [r.tracingExport])
  return {
    ...base,
    ...(load === undefined ? {} : { load }),
    ...(base.roles === undefined ? {} : { roles }),
    ...(exports.length === 0
      ? {}
      : { tracingExport: { requests: medianOf(exports, (e) => e.requests) ?? 0, bytes: medianOf(exports, (e) => e.bytes) ?? 0 } }),
    spread: {
      repeats: repeats.length,
      callsPerSecond: range(rates),
      routerComponentCpuPer1k: range(repeats.map(routerComponentCpu))
    },
    repeats: [...repeats]
  }
}
