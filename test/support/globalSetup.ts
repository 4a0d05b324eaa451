/**
 * vitest globalSetup: ONE embedded PostgreSQL for the whole test run (temporary data directory, free
 * port), stopped and removed at the end. Test files read its connection info with
 * `inject("wampgresPostgres")` (see index.ts: `TestDatabase.layer` gives each file its own database).
 * It also builds dist/, which `npm start` runs.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import type { TestProject } from "vitest/node"
import { EmbeddedPostgres } from "../../src/layers/EmbeddedPostgres.js"
import type { PostgresInfo } from "./postgres.js"

export default async function setup(project: TestProject) {
  // `npm start` compiles the service before it runs it; tests that run it in parallel then find
  // dist/ up to date (the build is incremental and writes nothing) instead of racing to write it.
  execFileSync(Path.join("node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json"], { stdio: "inherit" })
  const root = await Fs.mkdtemp(Path.join(Os.tmpdir(), "wampgres-test-"))
  // The postgres OS user (when running as root) must traverse it.
  await Fs.chmod(root, 0o755)
  const scope = Effect.runSync(Scope.make())
  const pg = await Effect.runPromise(
    Layer.buildWithScope(EmbeddedPostgres.layer({ dataDir: Path.join(root, "postgres") }), scope).pipe(
      Effect.map((context) => Context.get(context, EmbeddedPostgres))
    )
  )
  const info: PostgresInfo = {
    host: pg.host,
    port: pg.port,
    user: pg.user,
    password: Redacted.value(pg.password),
    dataDir: pg.dataDir,
    socketDir: pg.socketDir,
    url: Redacted.value(pg.url("postgres"))
  }
  project.provide("wampgresPostgres", info)
  return async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await Fs.rm(root, { recursive: true, force: true })
  }
}
