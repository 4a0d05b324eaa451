/**
 * The house rules of DESIGN.md, checked on the sources: the protocol module is the ground floor,
 * the router and the component stand on it and never on each other, and error URIs are spelled
 * out only in the protocol module.
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "../../src")

const sources = (dir: string): Array<string> =>
  readdirSync(Path.join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => Path.join(dir, file))

/** The project folders (under src/) that a source file imports from. */
const importedFolders = (file: string): Set<string> => {
  const text = readFileSync(Path.join(root, file), "utf8")
  const folders = new Set<string>()
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+)"/g)) {
    const target = Path.relative(root, Path.resolve(Path.join(root, Path.dirname(file)), match[1]!))
    folders.add(target.split(Path.sep)[0]!)
  }
  return folders
}

describe("layering", () => {
  it("the protocol module imports nothing else of the project", () => {
    for (const file of sources("wamp")) {
      expect([...importedFolders(file)].filter((f) => f !== "wamp"), file).toEqual([])
    }
  })

  it("the router imports only the protocol module", () => {
    for (const file of sources("router")) {
      expect([...importedFolders(file)].filter((f) => f !== "router" && f !== "wamp"), file).toEqual([])
    }
  })

  it("the component never imports router internals (only EmbeddedRouter hosts the router as a layer)", () => {
    const component = [...sources("layers"), ...sources("procedures"), ...sources("testing")]
      .filter((file) => file !== Path.join("layers", "EmbeddedRouter.ts"))
    for (const file of component) expect(importedFolders(file).has("router"), file).toBe(false)
  })

  it("error and close URIs are written only in the protocol module", () => {
    const outside = sources(".").filter((file) => !file.startsWith("wamp" + Path.sep))
    for (const file of outside) {
      const text = readFileSync(Path.join(root, file), "utf8")
      expect(text.match(/["'](?:wamp\.error|wamp\.close|wampgres\.error)\.[a-z_.]+["']/g), file).toBeNull()
    }
  })
})
