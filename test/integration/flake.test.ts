/**
 * flake.nix parses (Debian's `nix-bin` gives `nix-instantiate`; skipped when it is not installed).
 */
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { repoRoot } from "../support/index.js"

const nixInstantiate = ChildProcess.spawnSync("nix-instantiate", ["--version"], { encoding: "utf8" })
const available = nixInstantiate.status === 0

describe.skipIf(!available)("flake.nix", () => {
  it("parses, with a dev shell and an app", () => {
    const parsed = ChildProcess.spawnSync("nix-instantiate", ["--parse", Path.join(repoRoot, "flake.nix")], {
      encoding: "utf8"
    })
    assert.strictEqual(parsed.status, 0, parsed.stderr)
    for (const part of ["devShells", "apps", "nodejs_24", "postgresql"]) assert.include(parsed.stdout, part)
  })
})
