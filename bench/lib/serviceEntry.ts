/**
 * How the bench starts the service: as `npm start` does, compiled (`tsc -p tsconfig.build.json`,
 * incremental) and run as `dist/main.js` on plain Node. A revision from before the build existed
 * gets this checkout's tsconfig.build.json in its worktree, so both sides of a comparison run the
 * same way (compiled JavaScript; the tsx loader alone changes memory and start-up).
 */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { copyFileSync, existsSync } from "node:fs"
import { join } from "node:path"
import { ChildError } from "./child.js"

const BUILD_CONFIG = "tsconfig.build.json"

const built = new Map<string, string>()

/** `tsc -p tsconfig.build.json` in `root` (incremental: nothing is written when up to date). */
const compile = (root: string): Promise<void> =>
  new Promise((resolve, reject) => {
    execFile(join(root, "node_modules", ".bin", "tsc"), ["-p", BUILD_CONFIG], { cwd: root, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error === null) resolve()
      else reject(new Error(`${stdout}${stderr}`.trim() || error.message))
    })
  })

/** The compiled service's entry point in `root` (this checkout or a revision's worktree), built once per run. */
export const serviceEntry = (root: string): Effect.Effect<string, ChildError> =>
  Effect.suspend(() => {
    const known = built.get(root)
    if (known !== undefined) return Effect.succeed(known)
    return Effect.tryPromise({
      try: async () => {
        if (!existsSync(join(root, BUILD_CONFIG))) copyFileSync(join(process.cwd(), BUILD_CONFIG), join(root, BUILD_CONFIG))
        await compile(root)
      },
      catch: (e) => new ChildError({ child: "service build", message: `${root}: ${e instanceof Error ? e.message : String(e)}` })
    }).pipe(Effect.map(() => {
      const entry = join(root, "dist", "main.js")
      built.set(root, entry)
      return entry
    }))
  })
