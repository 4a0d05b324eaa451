/**
 * Progress of the rows of `npm run bench`. Every row prints the same lines: `[i/n] label: starting`,
 * one line as each phase begins (warmup, measure, drain), then its result (printed by run.ts). On
 * a terminal the line is rewritten in place, with the calls so far; in logs and pipes each phase is
 * one plain line and the counts are left out.
 */
import type { Progress } from "./runner.js"

export interface ProgressOutput {
  readonly tty: boolean
  readonly columns: number
  readonly write: (text: string) => void
}

export const stderrOutput = (): ProgressOutput => ({
  tty: process.stderr.isTTY === true,
  columns: process.stderr.columns || 120,
  write: (text) => void process.stderr.write(text)
})

export const progressPrinter = (output: ProgressOutput = stderrOutput()) => {
  let showing = false
  return {
    /** The reporter of one row, `prefix` being e.g. `[2/9] now.v1 json`. */
    row: (prefix: string) => (progress: Progress | "starting") => {
      const text = progress === "starting" ? "starting" : progress._tag === "Phase" ? progress.phase : progress.text
      if (output.tty) {
        output.write(`\r\x1b[K${`${prefix}: ${text}`.slice(0, output.columns - 1)}`)
        showing = true
      } else if (progress === "starting" || progress._tag === "Phase") {
        output.write(`${prefix}: ${text}\n`)
      }
    },
    /** Before the row's result: the terminal's progress line goes away. */
    clear: () => {
      if (output.tty && showing) output.write("\r\x1b[K")
      showing = false
    }
  }
}
