/**
 * The environment `src/main.ts` runs with in the browser tests: its own temporary data directory
 * for the embedded PostgreSQL, removed with the scope.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { mkdtempSync, rmSync } from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export const appEnvironment: Effect.Effect<Record<string, string>, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(Path.join(Os.tmpdir(), "wampgres-browser-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  ),
  (dir) => ({ WAMPGRES_DATA_DIR: dir })
)
