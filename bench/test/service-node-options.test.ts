import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { spawnChild } from "../lib/child.js"
import { startScriptNodeOptions } from "../lib/options.js"
import { serviceEntry } from "../lib/serviceEntry.js"
import { defaultVariants, rowsFor } from "../lib/scenarios.js"
import { scenario } from "./support.js"


describe("Node flags of the service", () => {
  it("default: the Node flags of npm start", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: { start: string } }
    const expected = pkg.scripts.start.replace(/^.*?(?:^|\s)(?:exec\s+)?(?:node|tsx)\s+/, "").replace(/\s*dist\/main\.js.*$/, "").split(/\s+/).filter((w) => w !== "")
    expect(expected).toEqual(["--max-semi-space-size=8", "--heap-growing-percent=25"])
    expect(startScriptNodeOptions()).toEqual(expected)
  })

  it("several variants run each service row once per variant, labelled; other rows once", () => {
    const variants = { ...defaultVariants, nodeOptions: [[], ["--max-semi-space-size=4"]] }
    const rows = rowsFor([scenario("echo"), scenario("now.v1")], ["json"], variants)
    expect(rows.map((r) => r.label)).toEqual(["echo json", "now.v1 json [no flags]", "now.v1 json [--max-semi-space-size=4]"])
    expect(rows.map((r) => r.serviceNodeOptions)).toEqual([undefined, [], ["--max-semi-space-size=4"]])
    expect(rowsFor([scenario("now.v1")], ["json"], { ...defaultVariants, nodeOptions: [["--max-semi-space-size=8"]] }).map((r) => r.label))
      .toEqual(["now.v1 json"])
  })

  it.live("a child gets its Node flags after the tsx loader", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "wampgres-bench-flags-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const script = join(dir, "flags.ts")
      writeFileSync(script, "console.log(JSON.stringify(process.execArgv))\n")
      const child = yield* spawnChild({ name: "flags", script, nodeOptions: ["--max-semi-space-size=2"], speaksIpc: false })
      expect(yield* child.exited).toBe("code 0")
      expect(JSON.parse(child.output())).toContain("--max-semi-space-size=2")
    }).pipe(Effect.scoped))

  it.live("the service runs compiled, as npm start runs it: dist/main.js on plain Node, with its flags", () =>
    Effect.gen(function*() {
      const entry = yield* serviceEntry(process.cwd())
      expect(entry).toBe(join(process.cwd(), "dist", "main.js"))
      expect(existsSync(entry)).toBe(true)
      // `--help` prints the settings and exits: the compiled entry point runs without tsx.
      const child = yield* spawnChild({ name: "service", script: entry, loader: "node", args: ["--help"], nodeOptions: ["--max-semi-space-size=2"], speaksIpc: false })
      expect(yield* child.exited).toBe("code 0")
      expect(child.output()).toMatch(/DATABASE_URL/)
      const dir = mkdtempSync(join(tmpdir(), "wampgres-bench-flags-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const script = join(dir, "flags.mjs")
      writeFileSync(script, "console.log(JSON.stringify(process.execArgv))\n")
      const plain = yield* spawnChild({ name: "flags", script, loader: "node", nodeOptions: ["--max-semi-space-size=2"], speaksIpc: false })
      expect(yield* plain.exited).toBe("code 0")
      expect(JSON.parse(plain.output())).toEqual(["--max-semi-space-size=2"])
    }).pipe(Effect.scoped), 60_000)
})
