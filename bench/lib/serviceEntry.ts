/**
 * How the bench starts the service: as `npm start` of that code root does. A root with a build
 * (tsconfig.build.json) is compiled first and runs `dist/main.js` on plain Node; an older revision
 * without one runs `src/main.ts` through tsx, as its own `npm start` did.
 */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { ChildError } from "./child.js"

export interface ServiceEntry {
  readonly script: string
  /** "tsx": the child runs with the tsx loader; "node": compiled JavaScript on plain Node. */
  readonly loader: "tsx" | "node"
}

const built = new Map<string, ServiceEntry>()

/** `tsc -p tsconfig.build.json` in `root` (incremental: seconds at most, nothing written when up to date). */
const compile = (root: string): Promise<void> =>
  new Promise((resolve, reject) => {
    execFile(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json"], { cwd: root, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error === null) resolve()
      else reject(new Error(`${stdout}${stderr}`.trim() || error.message))
    })
  })

/** The service's entry point in `root`, compiled once per run where the root has a build. */
export const serviceEntry = (root: string): Effect.Effect<ServiceEntry, ChildError> =>
  Effect.suspend(() => {
    const known = built.get(root)
    if (known !== undefined) return Effect.succeed(known)
    if (!existsSync(join(root, "tsconfig.build.json"))) {
      const entry: ServiceEntry = { script: join(root, "src", "main.ts"), loader: "tsx" }
      built.set(root, entry)
      return Effect.succeed(entry)
    }
    return Effect.tryPromise({
      try: () => compile(root),
      catch: (e) => new ChildError({ child: "service build", message: e instanceof Error ? e.message : String(e) })
    }).pipe(Effect.map(() => {
      const entry: ServiceEntry = { script: join(root, "dist", "main.js"), loader: "node" }
      built.set(root, entry)
      return entry
    }))
  })
