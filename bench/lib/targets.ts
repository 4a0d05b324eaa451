/**
 * The targets, in one table: each one a figure or ratio read from the rows of this run, with its
 * verdict (`met`, `not met`, or `not measured` when a row it needs is missing or had errors), and
 * the comparisons of variants (tracing off against an earlier revision, tracing on against off).
 * Targets read the reference rows only: this checkout, the first tracing and Node-flag variants.
 */
import type { RoleFigures, RowResult, TargetVerdict } from "./result.js"

const MB = 1024 * 1024

const num = (value: number | undefined, digits = 0): string =>
  value === undefined || Number.isNaN(value)
    ? "-"
    : value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** Calls/s without decimals, smaller figures with two or four. */
const figure = (value: number): string => num(value, Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 1 ? 2 : 4)

/** Microseconds of CPU per call, from CPU seconds per 1,000 calls. */
export const microsPerCall = (figures: RoleFigures | undefined): number | undefined =>
  figures?.cpuPer1k === undefined ? undefined : figures.cpuPer1k * 1000

const find = (rows: ReadonlyArray<RowResult>, scenario: string, serializer: string | undefined) =>
  rows.find((r) => r.reference && r.scenario === scenario && r.serializer === serializer && r.status === "ok")

const hadErrors = (row: RowResult): boolean =>
  (row.load?.errors ?? 0) > 0 || (row.load?.finalChecks ?? []).some((c) => !c.ok)

/** Why a row cannot back a verdict: missing, or with errors. */
const unusable = (row: RowResult | undefined, name: string): string | undefined =>
  row === undefined ? `row ${name} not measured` : hadErrors(row) ? `row ${row.label} had errors` : undefined

const notMeasured = (topic: string, name: string, rule: string, detail: string): TargetVerdict => ({
  topic,
  name,
  rule,
  value: undefined,
  met: undefined,
  detail
})

const rate = (r: RowResult) => r.load?.callsPerSecond
/** CPU seconds per 1k calls, shown as µs per call. */
const micros = (cpuPer1k: number): string => `${num(cpuPer1k * 1000, 1)} µs`
const routerCpu = (r: RowResult) => r.roles?.router?.cpuPer1k
const componentCpu = (r: RowResult) => r.roles?.component?.cpuPer1k
const clientCpu = (r: RowResult) => r.roles?.client?.cpuPer1k

interface Side {
  readonly row: RowResult | undefined
  readonly name: string
}

/** A WAMP row with its serializer, or a baseline (no serializer). */
const sideOf = (rows: ReadonlyArray<RowResult>, scenario: string, serializer?: string): Side => ({
  row: find(rows, scenario, serializer),
  name: serializer === undefined ? scenario : `${scenario} ${serializer}`
})

/** `a / b` of one figure of two rows, compared with `limit`. */
const ratio = (
  topic: string,
  name: string,
  a: Side,
  b: Side,
  pick: (r: RowResult) => number | undefined,
  rule: { readonly op: ">=" | "<="; readonly limit: number },
  show: (value: number) => string = figure
): TargetVerdict => {
  const ruleText = `${rule.op} ${rule.limit}`
  const problem = unusable(a.row, a.name) ?? unusable(b.row, b.name)
  const x = a.row === undefined ? undefined : pick(a.row)
  const y = b.row === undefined ? undefined : pick(b.row)
  if (problem !== undefined || x === undefined || y === undefined || y === 0) {
    return notMeasured(topic, name, ruleText, problem ?? "figure missing")
  }
  const value = x / y
  return {
    topic,
    name,
    rule: ruleText,
    value,
    met: rule.op === ">=" ? value >= rule.limit : value <= rule.limit,
    detail: `${show(x)} / ${show(y)} = ${num(value, 2)}`
  }
}

/** A ratio shown for reading, without a verdict (calls/s unless another figure is picked). */
const info = (
  name: string,
  a: Side,
  b: Side,
  pick: (r: RowResult) => number | undefined = rate,
  show: (value: number) => string = figure
): TargetVerdict => ({
  ...ratio("info", name, a, b, pick, { op: ">=", limit: 0 }, show),
  rule: "-",
  met: undefined,
  informational: true
})

/** The serializer of the ratios between service rows: JSON when measured, otherwise msgpack. */
const serializerOf = (rows: ReadonlyArray<RowResult>): "json" | "msgpack" =>
  find(rows, "now.v1", "json") === undefined && find(rows, "now.v1", "msgpack") !== undefined ? "msgpack" : "json"

const performanceTargets = (rows: ReadonlyArray<RowResult>): Array<TargetVerdict> => {
  const ser = serializerOf(rows)
  const side = (scenario: string, serializer: string = ser): Side => sideOf(rows, scenario, serializer)
  const v1 = side("now.v1")
  const v3 = side("now.v3")
  const echo = side("echo", "json")
  const fox = side("echo@fox-wamp", "json")

  const v1Micros = microsPerCall(v1.row?.roles?.component)
  const v1Problem = unusable(v1.row, v1.name) ?? (v1Micros === undefined ? "figure missing" : undefined)
  const v1Cpu: TargetVerdict = v1Problem !== undefined || v1Micros === undefined
    ? notMeasured("performance", `component CPU per now.v1 call (${ser}), µs`, "<= 9", v1Problem ?? "figure missing")
    : {
      topic: "performance",
      name: `component CPU per now.v1 call (${ser}), µs`,
      rule: "<= 9",
      value: v1Micros,
      met: v1Micros <= 9,
      detail: `${num(v1Micros, 1)} µs`
    }

  return [
    ratio("performance", `now.v3 calls/s vs now.v1 (${ser})`, v3, v1, rate, { op: ">=", limit: 0.5 }),
    ratio("performance", `component CPU per call: now.v3 vs now.v1 (${ser})`, v3, v1, componentCpu, { op: "<=", limit: 2 }, micros),
    v1Cpu,
    ratio("performance", `now.v1 calls/s vs sql-pg (${ser})`, v1, sideOf(rows, "sql-pg"), rate, { op: ">=", limit: 0.5 }),
    ratio("performance", "echo calls/s vs fox-wamp (same client)", echo, fox, rate, { op: ">=", limit: 1.5 }),
    ratio("performance", "router CPU per echo call vs fox-wamp", echo, fox, routerCpu, { op: "<=", limit: 0.35 }, micros),
    peakRssTarget(rows),
    ratio("performance", "ledger.transfer calls/s vs pgbench-transfer", side("ledger.transfer"), sideOf(rows, "pgbench-transfer"), rate, {
      op: ">=",
      limit: 0.7
    }),
    ratio("performance", `now.v1 vs now.v1@autobahn-pg calls/s (${ser})`, v1, side("now.v1@autobahn-pg"), rate, { op: ">=", limit: 2 }),
    ratio("performance", `now.v3 vs now.v3@autobahn-pg calls/s (${ser})`, v3, side("now.v3@autobahn-pg"), rate, { op: ">=", limit: 2 })
  ]
}

/** The service's peak RSS in every reference row that runs it (every scenario and serializer). */
const peakRssTarget = (rows: ReadonlyArray<RowResult>): TargetVerdict => {
  const name = "component peak RSS, every service row"
  const serviceRows = rows.filter((r) => r.reference && r.status === "ok" && r.settings.component === "service")
  const measured = serviceRows.filter((r) => r.roles?.component?.peakRss !== undefined)
  if (measured.length === 0) return notMeasured("memory", name, "< 130 MB", "no service row measured")
  const largest = measured.reduce((a, b) => (b.roles?.component?.peakRss ?? 0) > (a.roles?.component?.peakRss ?? 0) ? b : a)
  const bytes = largest.roles?.component?.peakRss ?? 0
  return {
    topic: "memory",
    name,
    rule: "< 130 MB",
    value: bytes / MB,
    met: bytes < 130 * MB,
    detail: `${num(bytes / MB, 1)} MB, largest in ${largest.label} (${measured.length} service rows)`
  }
}

// ---------------------------------------------------------------------------------------------
// Variants: tracing off against an earlier revision, tracing on against off

/** CPU per 1k calls of wampgres's own processes in a row: our router, and the service when it runs. */
export const ourCpuPer1k = (row: RowResult): number | undefined => {
  const router = row.settings.router === "wampgres" ? row.roles?.router?.cpuPer1k : 0
  const component = row.settings.component === "service" ? row.roles?.component?.cpuPer1k : 0
  return router === undefined || component === undefined ? undefined : router + component
}

/** One comparison of two variants of the same row. */
export interface VariantComparison {
  /** The row without its variant (`now.v1 json`, with Node flags when there are several). */
  readonly row: string
  readonly kind: "off-vs-before" | "on-vs-off"
  /** `tracing off / rev 80b3971^1`, `tracing on / off`. */
  readonly name: string
  readonly a: RowResult
  readonly b: RowResult
  /** calls/s of a / b. */
  readonly callsRatio: number | undefined
  /** wampgres CPU per call of a / b. */
  readonly cpuRatio: number | undefined
  /** Extra CPU per call of a over b, µs, per role. */
  readonly routerMicros: number | undefined
  readonly componentMicros: number | undefined
  /** OTLP bytes exported per call (tracing on). */
  readonly exportBytesPerCall: number | undefined
  readonly problem: string | undefined
}

const groupKey = (r: RowResult) => JSON.stringify([r.scenario, r.serializer, r.settings.nodeOptions ?? null])

const difference = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined ? undefined : (a - b) * 1000

const divide = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b

const compare = (row: string, kind: VariantComparison["kind"], name: string, a: RowResult, b: RowResult): VariantComparison => {
  const problem = unusable(a, a.label) ?? unusable(b, b.label)
  const calls = a.load?.ok ?? 0
  return {
    row,
    kind,
    name,
    a,
    b,
    callsRatio: divide(rate(a), rate(b)),
    cpuRatio: divide(ourCpuPer1k(a), ourCpuPer1k(b)),
    routerMicros: a.settings.router === "wampgres" ? difference(routerCpu(a), routerCpu(b)) : undefined,
    componentMicros: a.settings.component === "service" ? difference(componentCpu(a), componentCpu(b)) : undefined,
    exportBytesPerCall: a.tracingExport === undefined || calls === 0 ? undefined : a.tracingExport.bytes / calls,
    problem
  }
}

/**
 * For every row measured in several variants: tracing off against each earlier revision, and
 * tracing on against off, all of this run.
 */
export const compareVariants = (rows: ReadonlyArray<RowResult>): Array<VariantComparison> => {
  const groups = new Map<string, Array<RowResult>>()
  for (const r of rows) {
    if (r.status !== "ok" || r.settings.tracing === undefined) continue
    groups.set(groupKey(r), [...(groups.get(groupKey(r)) ?? []), r])
  }
  const out: Array<VariantComparison> = []
  for (const group of groups.values()) {
    const first = group[0] as RowResult
    const flags = first.settings.nodeOptions
    const severalFlags = flags !== undefined &&
      rows.some((r) => r.settings.nodeOptions !== undefined && JSON.stringify(r.settings.nodeOptions) !== JSON.stringify(flags))
    const name = `${first.scenario} ${first.serializer ?? ""}`.trim() +
      (severalFlags ? ` [${flags.length === 0 ? "no flags" : flags.join(" ")}]` : "")
    const current = group.filter((r) => r.settings.revision === undefined)
    const off = current.find((r) => r.settings.tracing === false)
    const on = current.find((r) => r.settings.tracing === true)
    for (const before of group.filter((r) => r.settings.revision !== undefined)) {
      if (off !== undefined) out.push(compare(name, "off-vs-before", `tracing off / rev ${before.settings.revision}`, off, before))
    }
    if (on !== undefined && off !== undefined) out.push(compare(name, "on-vs-off", "tracing on / off", on, off))
  }
  return out
}

/**
 * Tracing off costs at most 3% against the revision before tracing, judged on the cost: our router +
 * service CPU per call (medians with `--repeat`). Calls/s is shown beside it for reading only: at
 * saturation on a shared machine it moves with the other processes' load.
 */
const tracingTargets = (rows: ReadonlyArray<RowResult>): Array<TargetVerdict> => {
  const name = "tracing off within 3% of before (CPU per call)"
  const comparisons = compareVariants(rows).filter((c) => c.kind === "off-vs-before")
  if (comparisons.length === 0) {
    return [notMeasured("tracing", name, "<= 1.03", "needs --service-revision <the revision before tracing>")]
  }
  return comparisons.map((c): TargetVerdict => {
    const label = `tracing off vs rev ${c.b.settings.revision ?? ""}: ${c.row}, CPU per call`
    if (c.problem !== undefined || c.cpuRatio === undefined) {
      return notMeasured("tracing", label, "<= 1.03", c.problem ?? "figure missing")
    }
    const repeats = c.a.spread === undefined ? "" : `, medians of ${c.a.spread.repeats} repeats`
    return {
      topic: "tracing",
      name: label,
      rule: "<= 1.03",
      value: c.cpuRatio,
      met: c.cpuRatio <= 1.03,
      detail: `router + service CPU per call x${num(c.cpuRatio, 3)}${repeats}; calls/s x${num(c.callsRatio, 3)} (information)`
    }
  })
}

/** Every target of this run, then the ratios shown for reading. */
export const evaluateTargets = (rows: ReadonlyArray<RowResult>): Array<TargetVerdict> => {
  const ser = serializerOf(rows)
  const side = (scenario: string, serializer: string = ser): Side => sideOf(rows, scenario, serializer)
  return [
    ...performanceTargets(rows),
    ...tracingTargets(rows),
    info(`now.v1 vs echo (${ser})`, side("now.v1"), side("echo")),
    info(`scale-out: echo-x2 vs echo (${ser})`, side("echo-x2"), side("echo")),
    info(`scale-out: now.v1-x2 vs now.v1 (${ser})`, side("now.v1-x2"), side("now.v1")),
    info("sql-pg vs pgbench", sideOf(rows, "sql-pg"), sideOf(rows, "pgbench")),
    // The floor under the transaction targets: what @effect/sql-pg alone pays for a transaction
    // against a pipelined statement, and how close now.v3 gets to that driver's own throughput.
    info("driver alone: CPU per transaction vs per statement (sql-pg-tx vs sql-pg)", sideOf(rows, "sql-pg-tx"), sideOf(rows, "sql-pg"), clientCpu, micros),
    info(`now.v3 vs sql-pg-tx (${ser})`, side("now.v3"), sideOf(rows, "sql-pg-tx"))
  ]
}

export const verdictOf = (t: TargetVerdict): string =>
  t.informational === true ? "info" : t.met === undefined ? "not measured" : t.met ? "met" : "not met"

export const renderTargets = (targets: ReadonlyArray<TargetVerdict>): string => {
  const width = Math.max(6, ...targets.map((t) => t.name.length))
  const header = `${"topic".padEnd(11)} ${"target".padEnd(width)}  ${"rule".padEnd(8)} ${"value".padStart(8)}  ${"verdict".padEnd(12)} detail`
  const lines = targets.map((t) =>
    `${t.topic.padEnd(11)} ${t.name.padEnd(width)}  ${t.rule.padEnd(8)} ${(t.value === undefined ? "-" : num(t.value, 2)).padStart(8)}  ${
      verdictOf(t).padEnd(12)
    } ${t.detail}`
  )
  return [header, "-".repeat(header.length + 20), ...lines].join("\n")
}

const signed = (micros: number | undefined): string =>
  micros === undefined ? "-" : `${micros >= 0 ? "+" : ""}${num(micros, 1)}`

/** The variant comparisons: ratios of calls/s and CPU per call, and the CPU difference per call. */
export const renderComparisons = (comparisons: ReadonlyArray<VariantComparison>): string => {
  if (comparisons.length === 0) return ""
  const rowWidth = Math.max(3, ...comparisons.map((c) => c.row.length))
  const nameWidth = Math.max(10, ...comparisons.map((c) => c.name.length))
  const header = `${"row".padEnd(rowWidth)}  ${"comparison".padEnd(nameWidth)}  calls/s  CPU/call  router µs  comp µs  OTLP B/call`
  const lines = comparisons.map((c) =>
    c.problem !== undefined
      ? `${c.row.padEnd(rowWidth)}  ${c.name.padEnd(nameWidth)}  not measured: ${c.problem}`
      : `${c.row.padEnd(rowWidth)}  ${c.name.padEnd(nameWidth)}  ${("x" + num(c.callsRatio, 3)).padStart(7)}  ${
        ("x" + num(c.cpuRatio, 3)).padStart(8)
      }  ${signed(c.routerMicros).padStart(9)}  ${signed(c.componentMicros).padStart(7)}  ${num(c.exportBytesPerCall).padStart(11)}`
  )
  return [header, "-".repeat(header.length), ...lines].join("\n")
}
