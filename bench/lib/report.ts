/**
 * The report: a table on screen, the targets as measured ratios with a verdict, and the
 * whole run as JSON in `bench/results/` (git-ignored).
 */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import type { Report, Role, RowResult, TargetVerdict } from "./result.js"

const MB = 1024 * 1024

const num = (value: number | undefined, digits = 0): string =>
  value === undefined || Number.isNaN(value)
    ? "-"
    : value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

const cpu = (row: RowResult, role: Role): string => num(row.roles?.[role]?.cpuPer1k, 3)
const rss = (row: RowResult, role: Role): string => {
  const peak = row.roles?.[role]?.peakRss
  return peak === undefined ? "-" : num(peak / MB)
}

const COLUMNS: ReadonlyArray<{ readonly title: string; readonly width: number; readonly cell: (r: RowResult) => string }> = [
  { title: "calls/s", width: 9, cell: (r) => num(r.load?.callsPerSecond) },
  { title: "p50 ms", width: 7, cell: (r) => num(r.load?.latency.p50, 2) },
  { title: "p90 ms", width: 7, cell: (r) => num(r.load?.latency.p90, 2) },
  { title: "p99 ms", width: 7, cell: (r) => num(r.load?.latency.p99, 2) },
  { title: "max ms", width: 8, cell: (r) => num(r.load?.latency.max, 1) },
  { title: "errors", width: 6, cell: (r) => num(r.load?.errors) },
  { title: "router", width: 7, cell: (r) => cpu(r, "router") },
  { title: "comp", width: 7, cell: (r) => cpu(r, "component") },
  { title: "client", width: 7, cell: (r) => cpu(r, "client") },
  { title: "db", width: 7, cell: (r) => cpu(r, "database") },
  { title: "router", width: 6, cell: (r) => rss(r, "router") },
  { title: "comp", width: 6, cell: (r) => rss(r, "component") }
]

/** The table, one line per row, with unavailable and failed rows saying why. */
export const renderTable = (rows: ReadonlyArray<RowResult>): string => {
  const labelWidth = Math.max(18, ...rows.map((r) => r.label.length))
  const pad = (s: string, w: number) => s.padStart(w)
  const header1 = " ".repeat(labelWidth) + "  " + " ".repeat(9 + 7 * 3 + 8 + 6 + 6) +
    "      CPU s per 1k calls      " + "  peak RSS MB"
  const header2 = "row".padEnd(labelWidth) + "  " + COLUMNS.map((c) => pad(c.title, c.width)).join(" ")
  const lines = [header1, header2, "-".repeat(header2.length)]
  for (const row of rows) {
    if (row.status !== "ok") {
      lines.push(`${row.label.padEnd(labelWidth)}  ${row.status}: ${firstLine(row.reason ?? "")}`)
      continue
    }
    lines.push(row.label.padEnd(labelWidth) + "  " + COLUMNS.map((c) => pad(c.cell(row), c.width)).join(" "))
  }
  const notes: Array<string> = []
  for (const row of rows) {
    if (row.load?.rowsPerSecond !== undefined) notes.push(`${row.label}: ${num(row.load.rowsPerSecond)} rows/s streamed`)
    for (const sample of row.load?.errorSamples ?? []) notes.push(`${row.label}: ${sample.count} x ${firstLine(sample.message)}`)
    for (const check of row.load?.finalChecks ?? []) {
      notes.push(`${row.label}: ${check.ok ? "ok" : "FAILED"} ${check.name} (${check.detail})`)
    }
    if (row.status === "failed" && (row.reason ?? "").includes("\n")) {
      notes.push(`${row.label} failed:\n    ${(row.reason ?? "").split("\n").slice(0, 12).join("\n    ")}`)
    }
  }
  return [...lines, ...(notes.length > 0 ? ["", ...notes] : [])].join("\n")
}

/** Calls/s without decimals, CPU seconds per 1k calls with four. */
const figure = (value: number): string => num(value, Math.abs(value) >= 100 ? 0 : 4)

const firstLine = (s: string): string => s.split("\n")[0] ?? ""

const find = (rows: ReadonlyArray<RowResult>, scenario: string, serializer: string | undefined) =>
  rows.find((r) => r.scenario === scenario && r.serializer === serializer && r.status === "ok")

/** A measured row usable for a target: present, and without errors. */
const usable = (row: RowResult | undefined, name: string): string | undefined =>
  row === undefined
    ? `row ${name} not measured`
    : (row.load?.errors ?? 0) > 0 || (row.load?.finalChecks ?? []).some((c) => !c.ok)
    ? `row ${row.label} had errors`
    : undefined

const ratioTarget = (
  name: string,
  rule: string,
  numerator: RowResult | undefined,
  numeratorName: string,
  denominator: RowResult | undefined,
  denominatorName: string,
  pick: (r: RowResult) => number | undefined,
  ok: (ratio: number) => boolean
): TargetVerdict => {
  const problem = usable(numerator, numeratorName) ?? usable(denominator, denominatorName)
  const a = numerator === undefined ? undefined : pick(numerator)
  const b = denominator === undefined ? undefined : pick(denominator)
  if (problem !== undefined || a === undefined || b === undefined || b === 0) {
    return { name, rule, value: undefined, met: undefined, detail: problem ?? "figure missing" }
  }
  const ratio = a / b
  return { name, rule, value: ratio, met: ok(ratio), detail: `${figure(a)} / ${figure(b)} = ${num(ratio, 2)}` }
}

/** The targets, as ratios from this run. */
export const evaluateTargets = (rows: ReadonlyArray<RowResult>): Array<TargetVerdict> => {
  const echo = find(rows, "echo", "json")
  const fox = find(rows, "echo@fox-wamp", "json")
  // Same serializer on both sides of a ratio: JSON when measured, otherwise msgpack.
  const ser = find(rows, "now.v1", "json") === undefined && find(rows, "now.v1", "msgpack") !== undefined ? "msgpack" : "json"
  const echoSame = find(rows, "echo", ser)
  const v1 = find(rows, "now.v1", ser)
  const v3 = find(rows, "now.v3", ser)
  const routerCpu = (r: RowResult) => r.roles?.router?.cpuPer1k
  const rate = (r: RowResult) => r.load?.callsPerSecond

  const serviceRows = rows.filter((r) => r.status === "ok" && r.settings.component === "service")
  const peak = serviceRows.reduce<{ row: RowResult | undefined; bytes: number }>(
    (acc, r) => (r.roles?.component?.peakRss ?? 0) > acc.bytes ? { row: r, bytes: r.roles?.component?.peakRss ?? 0 } : acc,
    { row: undefined, bytes: 0 }
  )
  const goals: Array<TargetVerdict> = [
    ratioTarget("router CPU per echo call vs fox-wamp", "<= 0.5", echo, "echo json", fox, "echo@fox-wamp json", routerCpu, (r) => r <= 0.5),
    ratioTarget("echo calls/s vs fox-wamp (same client)", ">= 1.5", echo, "echo json", fox, "echo@fox-wamp json", rate, (r) => r >= 1.5),
    ratioTarget(`now.v1 calls/s vs echo (${ser})`, ">= 0.6", v1, `now.v1 ${ser}`, echoSame, `echo ${ser}`, rate, (r) => r >= 0.6),
    ratioTarget(`now.v3 calls/s vs now.v1 (${ser})`, ">= 0.4", v3, `now.v3 ${ser}`, v1, `now.v1 ${ser}`, rate, (r) => r >= 0.4),
    peak.row === undefined
      ? { name: "component peak RSS under load", rule: "< 150 MB", value: undefined, met: undefined, detail: "no service row measured" }
      : {
        name: "component peak RSS under load",
        rule: "< 150 MB",
        value: peak.bytes / MB,
        met: peak.bytes < 150 * MB,
        detail: `${num(peak.bytes / MB, 1)} MB, largest in ${peak.row.label}`
      }
  ]

  // Ratios worth reading that the issue sets no target for.
  const info = (name: string, a: RowResult | undefined, aName: string, b: RowResult | undefined, bName: string): TargetVerdict => ({
    ...ratioTarget(name, "-", a, aName, b, bName, rate, () => true),
    met: undefined,
    informational: true
  })
  const sqlpg = find(rows, "sql-pg", undefined)
  return [
    ...goals,
    info(`scale-out: echo-x2 vs echo (${ser})`, find(rows, "echo-x2", ser), `echo-x2 ${ser}`, echoSame, `echo ${ser}`),
    info(`scale-out: now.v1-x2 vs now.v1 (${ser})`, find(rows, "now.v1-x2", ser), `now.v1-x2 ${ser}`, v1, `now.v1 ${ser}`),
    info(`now.v1 vs the sql-pg ceiling (${ser})`, v1, `now.v1 ${ser}`, sqlpg, "sql-pg"),
    info("sql-pg vs pgbench", sqlpg, "sql-pg", find(rows, "pgbench", undefined), "pgbench")
  ]
}

export const renderTargets = (targets: ReadonlyArray<TargetVerdict>): string => {
  const width = Math.max(...targets.map((t) => t.name.length))
  return targets.map((t) => {
    const verdict = t.informational === true ? "info" : t.met === undefined ? "unknown" : t.met ? "met" : "NOT met"
    const value = t.value === undefined ? "-" : num(t.value, 2)
    return `${t.name.padEnd(width)}  ${t.rule.padEnd(8)} ${value.padStart(7)}  ${verdict.padEnd(8)} ${t.detail}`
  }).join("\n")
}

/** Writes the report as `<dir>/bench-<timestamp>.json` and `<dir>/latest.json`; returns the first path. */
export const writeReport = async (dir: string, report: Report): Promise<string> => {
  await mkdir(dir, { recursive: true })
  const stamp = report.startedAt.replace(/[:.]/g, "-")
  const file = join(dir, `bench-${stamp}.json`)
  const text = JSON.stringify(report, null, 2) + "\n"
  await writeFile(file, text)
  await writeFile(join(dir, "latest.json"), text)
  return file
}
