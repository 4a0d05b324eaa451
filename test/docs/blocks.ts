/**
 * The fenced blocks of a Markdown document, with the annotation written just before each fence:
 *
 * - `<!-- not run: reason -->`: not run by the docs test, and the reason says why;
 * - `<!-- service: ... -->`: the command the docs test starts the service with;
 * - `<!-- output -->`: what the block before it prints, compared by shape (numbers may differ).
 *
 * Every other block must be runnable (`sh` or `js`).
 */
export type Annotation =
  | { readonly _tag: "NotRun"; readonly reason: string }
  | { readonly _tag: "Service" }
  | { readonly _tag: "Output" }
  | { readonly _tag: "Unknown"; readonly text: string }

export interface Block {
  readonly file: string
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly lang: string
  readonly code: string
  readonly annotation: Annotation | undefined
}

const parseAnnotation = (comment: string): Annotation => {
  const notRun = /^not run:\s*(.*)$/s.exec(comment)
  if (notRun !== null) return { _tag: "NotRun", reason: notRun[1]!.trim() }
  if (/^service\b/.test(comment)) return { _tag: "Service" }
  if (comment === "output") return { _tag: "Output" }
  return { _tag: "Unknown", text: comment }
}

export const blocks = (file: string, markdown: string): ReadonlyArray<Block> => {
  const lines = markdown.split("\n")
  const found: Array<Block> = []
  let previous = "" // the last non-empty line outside blocks
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)\s*$/.exec(lines[i]!)
    if (fence === null) {
      if (lines[i]!.trim() !== "") previous = lines[i]!.trim()
      continue
    }
    const start = i
    const body: Array<string> = []
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!)
    const comment = /^<!--\s*(.*?)\s*-->$/s.exec(previous)
    found.push({
      file,
      line: start + 1,
      lang: fence[1]!,
      code: body.join("\n"),
      annotation: comment === null ? undefined : parseAnnotation(comment[1]!)
    })
    previous = ""
  }
  return found
}

/**
 * A line pattern from a documented output line: the text as written, but any run of digits
 * matches any run of digits (ids, timestamps and balances differ from run to run).
 */
export const shapeOf = (line: string): RegExp =>
  new RegExp(`^${line.trim().replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\d+/g, "\\d+")}$`)
