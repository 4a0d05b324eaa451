/** The progress lines of `npm run bench`: the same lines for every row, in logs and on a terminal. */
import { describe, expect, it } from "@effect/vitest"
import { progressPrinter } from "../lib/progress.js"
import type { Progress } from "../lib/runner.js"

/** What a row reports while it runs: counts now and then (a pgbench row's are pgbench's lines). */
const runRow = (report: (progress: Progress | "starting") => void, counts: ReadonlyArray<string>) => {
  report("starting")
  for (const phase of ["warmup", "measure", "drain"] as const) {
    report({ _tag: "Phase", phase })
    for (const text of counts) report({ _tag: "Counts", text })
  }
}

describe("bench progress", () => {
  it("in a log: starting and one line per phase for every row, whatever the row reports in between", () => {
    let written = ""
    const printer = progressPrinter({ tty: false, columns: 80, write: (text) => (written += text) })
    runRow(printer.row("[1/2] echo json"), ["measure 1s  12,000 calls  0 errors", "measure 2s  24,000 calls  0 errors"])
    printer.clear()
    runRow(printer.row("[2/2] pgbench"), ["progress: 1.0 s, 60000.0 tps, lat 0.1 ms stddev 0.1, 0 failed"])
    printer.clear()
    const lines = written.trimEnd().split("\n")
    expect(lines).toEqual([
      "[1/2] echo json: starting",
      "[1/2] echo json: warmup",
      "[1/2] echo json: measure",
      "[1/2] echo json: drain",
      "[2/2] pgbench: starting",
      "[2/2] pgbench: warmup",
      "[2/2] pgbench: measure",
      "[2/2] pgbench: drain"
    ])
  })

  it("on a terminal: one line rewritten in place, cut to the width, cleared before the result", () => {
    let written = ""
    const printer = progressPrinter({ tty: true, columns: 30, write: (text) => (written += text) })
    runRow(printer.row("[1/1] now.v1 json"), ["measure 1s  12,000 calls  0 errors"])
    printer.clear()
    expect(written).not.toContain("\n")
    for (const shown of written.split("\r\x1b[K").filter((s) => s !== "")) expect(shown.length).toBeLessThanOrEqual(29)
    expect(written.endsWith("\r\x1b[K")).toBe(true)
  })
})
