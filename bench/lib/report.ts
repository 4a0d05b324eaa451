/**
 * The report: a table on screen (the targets follow it, see `targets.ts`), and the whole run as JSON
 * in `bench/results/` (git-ignored).
 */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import type { Report, Role, RowResult } from "./result.js"

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
    if (row.tracingExport !== undefined) {
      const perCall = (row.load?.ok ?? 0) > 0 ? ` (${num(row.tracingExport.bytes / (row.load?.ok ?? 1))} B per call)` : ""
      notes.push(
        `${row.label}: OTLP receiver got ${num(row.tracingExport.requests)} exports, ${num(row.tracingExport.bytes)} bytes in the window${perCall}`
      )
    }
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

/**
 * With `--repeat`: what each row's repeats spread over (the table shows their medians), calls/s and
 * router + component CPU per 1k calls as min-max and the width of that range against the median.
 */
export const renderSpread = (rows: ReadonlyArray<RowResult>): string => {
  const spread = rows.filter((r) => r.status === "ok" && r.spread !== undefined)
  if (spread.length === 0) return ""
  const labelWidth = Math.max(18, ...spread.map((r) => r.label.length))
  const width = (min: number, max: number, mid: number | undefined) =>
    mid === undefined || mid === 0 ? "" : ` (±${num(((max - min) / 2 / mid) * 100, 1)}%)`
  const lines = spread.map((r) => {
    const calls = r.spread?.callsPerSecond
    const cpu = r.spread?.routerComponentCpuPer1k
    const mid = (r.roles?.router?.cpuPer1k ?? 0) + (r.roles?.component?.cpuPer1k ?? 0)
    const callsText = calls === undefined ? "-" : `${num(calls.min)}-${num(calls.max)}${width(calls.min, calls.max, r.load?.callsPerSecond)}`
    const cpuText = cpu === undefined ? "-" : `${num(cpu.min, 4)}-${num(cpu.max, 4)}${width(cpu.min, cpu.max, mid)}`
    return `${r.label.padEnd(labelWidth)}  ${callsText.padEnd(26)}  ${cpuText}`
  })
  const header = `${"row".padEnd(labelWidth)}  ${"calls/s min-max".padEnd(26)}  router+comp CPU s per 1k calls min-max`
  const repeats = spread[0]?.spread?.repeats ?? 0
  return [`Spread of the ${repeats} repeats (the table above shows their medians; peak RSS: the largest)`, header, "-".repeat(header.length), ...lines]
    .join("\n")
}

const firstLine = (s: string): string => s.split("\n")[0] ?? ""

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
