/**
 * `--service-revision`: another revision of wampgres, checked out for this run only, whose router
 * and service some rows run beside this checkout's. A detached git worktree in a temporary
 * directory, sharing this checkout's node_modules (a symlink), removed when the run ends.
 */
import { Effect, Schema } from "effect"
import { execFile } from "node:child_process"
import { mkdtemp, realpath, rm, symlink } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { CodeRevision } from "./scenarios.js"

export class RevisionError extends Schema.TaggedError<RevisionError>()("RevisionError", {
  message: Schema.String
}) {}

const git = (args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile("git", [...args], { encoding: "utf8" }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(stderr.trim() || error.message))
      else resolve(stdout.trim())
    })
  })

const removeWorktree = (dir: string, tree: string) =>
  Effect.promise(async () => {
    await git(["worktree", "remove", "--force", tree]).catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
    // A worktree removed by hand leaves its administrative entry: drop it too.
    await git(["worktree", "prune"]).catch(() => undefined)
  })

/** The worktree of `rev` for the scope's lifetime. */
export const revisionWorktree = (rev: string) =>
  Effect.gen(function*() {
    const commit = yield* Effect.tryPromise({
      try: () => git(["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]),
      catch: () => new RevisionError({ message: `--service-revision: "${rev}" is not a commit of this repository` })
    })
    const short = yield* Effect.promise(() => git(["rev-parse", "--short", commit]))
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "wampgres-bench-rev-")))
    const tree = join(dir, short)
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          await git(["worktree", "add", "--detach", tree, commit])
          await symlink(await realpath(join(process.cwd(), "node_modules")), join(tree, "node_modules"), "dir")
        },
        catch: (e) => new RevisionError({ message: `--service-revision ${rev}: ${e instanceof Error ? e.message : String(e)}` })
      }).pipe(Effect.tapError(() => removeWorktree(dir, tree))),
      () => removeWorktree(dir, tree)
    )
    const revision: CodeRevision = { rev, commit: short, root: tree }
    return revision
  })
