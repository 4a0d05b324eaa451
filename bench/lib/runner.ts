/**
 * Runs one report row: starts its processes (router, components, load client) in a scope of
 * their own, samples their CPU at the edges of the measurement window and their peak RSS at its
 * end, and turns the load client's result into a `RowResult`. Everything stops when the row ends.
 */
import { Effect, Queue, Schema } from "effect"
import { join } from "node:path"
import { type Child, ChildError, spawnChild } from "./child.js"
import type { BenchDatabase } from "./database.js"
import type { BenchOptions } from "./options.js"
import { type OtlpSink, tracingEnv } from "./otlpSink.js"
import { serviceEntry } from "./serviceEntry.js"
import { findPgbench, nowScript, type PgbenchOptions, runPgbench } from "./pgbench.js"
import { checkTransfers, prepareTransferAccounts, transferScripts, transferVariables } from "./pgbenchTransfer.js"
import { cpuSeconds, memory, treeCpuSeconds } from "./procstat.js"
import type { ChildMessage, LoadConfig, LoadResult, Serializer } from "./protocol.js"
import type { Role, RoleFigures, RowResult } from "./result.js"
import type { PgbenchScenario, Row, WampScenario } from "./scenarios.js"

export class RowFailed extends Schema.TaggedError<RowFailed>()("RowFailed", {
  message: Schema.String
}) {}

export interface RunContext {
  readonly options: BenchOptions
  readonly database: BenchDatabase | undefined
  readonly runId: string
  /** Crossbar-style configuration file for our router. */
  readonly routerConfigFile: string
  readonly onProgress: (progress: Progress) => void
  /** The receiver of the rows with tracing on (started when a row needs it). */
  readonly otlp?: OtlpSink | undefined
  /** By commit: the database of another revision's service (its own schema), or why there is none. */
  readonly revisionDatabases?: Readonly<Record<string, { readonly url: string } | { readonly problem: string }>>
}

/**
 * What a row reports while it runs: each phase of the measurement as it starts (the same three for
 * every kind of row), and now and then the calls so far (shown only on a terminal).
 */
export type Progress =
  | { readonly _tag: "Phase"; readonly phase: "warmup" | "measure" | "drain" }
  | { readonly _tag: "Counts"; readonly text: string }

const benchDir = join(process.cwd(), "bench")
const childScript = (name: string) => join(benchDir, "children", `${name}.ts`)

/** Where the row's wampgres code comes from: this checkout, or the worktree of another revision. */
const codeRoot = (row: Row): string => row.revision?.root ?? process.cwd()

/** The row's tracing variables for our router and the service: on (to the bench's receiver) or off. */
const rowTracingEnv = (row: Row, ctx: RunContext) =>
  Effect.gen(function*() {
    if (row.tracing !== true) return tracingEnv(undefined)
    if (ctx.otlp === undefined) return yield* new RowFailed({ message: "tracing on, but no OTLP receiver was started" })
    return tracingEnv(ctx.otlp.endpoint)
  })

/**
 * Environment of one service instance (src/main.ts): external router and database, pool size, and
 * the row's serializer on the component's leg too.
 */
const serviceEnv = (
  ctx: RunContext,
  url: string,
  databaseUrl: string,
  serializer: Serializer,
  instances: number
): Record<string, string> => ({
  // Shared registrations for scale-out.
  ...(instances > 1 ? { WAMP_INVOKE: "roundrobin" } : {}),
  WAMP_URL: url,
  WAMP_REALM: ctx.options.realm,
  WAMP_SERIALIZER: serializer,
  DATABASE_URL: databaseUrl,
  DB_POOL_MIN: String(ctx.options.poolMin),
  DB_POOL_MAX: String(ctx.options.poolMax)
})

/** The service's database: the run's, or for another revision one of its own (its migrations differ). */
const serviceDatabaseUrl = (row: Row, ctx: RunContext, db: BenchDatabase) =>
  Effect.gen(function*() {
    if (row.revision === undefined) return db.url
    const own = ctx.revisionDatabases?.[row.revision.commit]
    if (own !== undefined && "url" in own) return own.url
    return yield* new RowFailed({
      message: `no database of its own for rev ${row.revision.rev}${own === undefined ? "" : `: ${own.problem}`}`
    })
  })

/** The embedded PostgreSQL's postmaster, when this row uses the database and we started it. */
const databasePids = (ctx: RunContext, used: boolean): Array<number> =>
  used && ctx.database?.postmasterPid !== undefined ? [ctx.database.postmasterPid] : []

interface Measured {
  readonly pids: Readonly<Record<Role, ReadonlyArray<number>>>
}

const sampleCpu = (role: Role, pids: ReadonlyArray<number>): number | undefined => {
  let total = 0
  for (const pid of pids) {
    const s = role === "database" ? treeCpuSeconds(pid) : cpuSeconds(pid)
    if (s === undefined) return undefined
    total += s
  }
  return total
}

/**
 * Reads the load client's messages until its result, sampling CPU (and, with tracing on, what the
 * OTLP receiver got) on the window's phases.
 */
const driveLoad = (
  client: Child,
  measured: Measured,
  onProgress: (progress: Progress) => void,
  timeoutMs: number,
  exported?: () => { readonly requests: number; readonly bytes: number }
) =>
  Effect.gen(function*() {
    let exportedAtStart: { readonly requests: number; readonly bytes: number } | undefined
    let tracingExport: { readonly requests: number; readonly bytes: number } | undefined
    const roles: Array<Role> = ["router", "component", "client", "database"]
    const atStart: Record<Role, number | undefined> = { router: undefined, component: undefined, client: undefined, database: undefined }
    const atEnd: Record<Role, number | undefined> = { ...atStart }
    const peak: Record<Role, number | undefined> = { ...atStart }
    for (;;) {
      const message: ChildMessage = yield* Queue.take(client.messages)
      switch (message.type) {
        case "phase":
          if (message.phase === "measure") {
            for (const role of roles) atStart[role] = sampleCpu(role, measured.pids[role])
            exportedAtStart = exported?.()
          } else if (message.phase === "drain") {
            const exportedAtEnd = exported?.()
            if (exportedAtStart !== undefined && exportedAtEnd !== undefined) {
              tracingExport = {
                requests: exportedAtEnd.requests - exportedAtStart.requests,
                bytes: exportedAtEnd.bytes - exportedAtStart.bytes
              }
            }
            for (const role of roles) {
              atEnd[role] = sampleCpu(role, measured.pids[role])
              // PostgreSQL's memory is mostly shared buffers: a peak RSS would mislead.
              if (role === "database") continue
              const peaks = measured.pids[role].map((pid) => memory(pid)?.peakRss ?? Number.NaN)
              if (peaks.length > 0) peak[role] = Math.max(...peaks)
            }
          }
          // connect/setup come before the warm-up: the row's "starting" covers them.
          if (message.phase === "warmup" || message.phase === "measure" || message.phase === "drain") {
            onProgress({ _tag: "Phase", phase: message.phase })
          }
          break
        case "progress":
          onProgress({
            _tag: "Counts",
            text: `${message.phase} ${(message.elapsedMs / 1000).toFixed(0)}s  ${message.calls.toLocaleString("en-US")} calls  ${message.errors} errors`
          })
          break
        case "failed":
          return yield* new RowFailed({ message: message.message })
        case "result": {
          const figures = (role: Role): RoleFigures => {
            const start = atStart[role]
            const end = atEnd[role]
            const cpu = start !== undefined && end !== undefined ? end - start : undefined
            const ok = message.result.ok
            return {
              cpuSeconds: cpu,
              cpuPer1k: cpu !== undefined && ok > 0 ? (cpu / ok) * 1000 : undefined,
              peakRss: peak[role],
              instances: measured.pids[role].length
            }
          }
          return {
            load: message.result,
            roles: Object.fromEntries(
              roles.filter((r) => measured.pids[r].length > 0).map((r) => [r, figures(r)])
            ) as Partial<Record<Role, RoleFigures>>,
            ...(tracingExport === undefined ? {} : { tracingExport })
          }
        }
        case "ready":
          break
      }
    }
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMs,
      orElse: () => Effect.fail(new RowFailed({ message: `no result within ${Math.round(timeoutMs / 1000)} s` }))
    })
  )

const checkNode = (child: Child) =>
  child.node === undefined || child.node === process.version
    ? Effect.void
    : Effect.fail(new RowFailed({ message: `${child.name} runs Node ${child.node}, not ${process.version}` }))

const inflightFor = (ctx: RunContext, scenario: WampScenario): number =>
  Math.min(ctx.options.inflight, scenario.maxInflight ?? Number.POSITIVE_INFINITY)

const runWamp = (row: Row, scenario: WampScenario, serializer: Serializer, ctx: RunContext) =>
  Effect.gen(function*() {
    const { options } = ctx
    const tracing = yield* rowTracingEnv(row, ctx)
    /** Processes whose death ends the row. */
    const watched: Array<Child> = []
    // Router: fox-wamp, ours, or an external one given by --wamp-url.
    let url: string
    const routerPids: Array<number> = []
    let routerName: string
    if (scenario.router === "wampgres" && options.wampUrl !== undefined) {
      url = options.wampUrl
      routerName = `external ${url}`
    } else {
      const router: Child = yield* spawnChild(
        scenario.router === "fox-wamp"
          ? { name: "fox-wamp router", script: childScript("router-fox"), speaksIpc: true }
          : {
            name: row.revision === undefined ? "wampgres router" : `wampgres router (${row.revision.rev})`,
            script: childScript("router-wampgres"),
            args: [ctx.routerConfigFile, codeRoot(row)],
            env: tracing,
            speaksIpc: true
          }
      )
      yield* checkNode(router)
      if (router.url === undefined) return yield* new RowFailed({ message: `${router.name} reported no URL` })
      url = router.url
      routerPids.push(router.pid)
      watched.push(router)
      routerName = scenario.router
    }

    // Components: with several instances, they share the registration round-robin.
    const componentPids: Array<number> = []
    const echoes: Array<Child> = []
    for (let i = 0; i < scenario.instances; i++) {
      if (scenario.component === "echo") {
        const invoke = scenario.instances > 1 ? ["roundrobin"] : []
        const echo = yield* spawnChild({
          name: `echo component ${i + 1}`,
          script: childScript("echo-component"),
          args: [url, options.realm, serializer, ...invoke],
          speaksIpc: true
        })
        yield* checkNode(echo)
        componentPids.push(echo.pid)
        echoes.push(echo)
        watched.push(echo)
      } else if (scenario.component === "autobahn-pg") {
        if (ctx.database === undefined) return yield* new RowFailed({ message: "no database" })
        const component = yield* spawnChild({
          name: "autobahn-pg component",
          script: childScript("autobahn-pg-component"),
          args: [url, options.realm, serializer],
          env: { DATABASE_URL: ctx.database.url, DB_POOL_MIN: String(options.poolMin), DB_POOL_MAX: String(options.poolMax) },
          speaksIpc: true
        })
        yield* checkNode(component)
        componentPids.push(component.pid)
        watched.push(component)
      } else {
        if (ctx.database === undefined) return yield* new RowFailed({ message: "no database" })
        // The real service, compiled as `npm start` runs it; it says nothing over IPC: the load
        // client's probe proves it ready. From another revision it runs in that worktree.
        const root = codeRoot(row)
        const databaseUrl = yield* serviceDatabaseUrl(row, ctx, ctx.database)
        const service = yield* spawnChild({
          name: row.revision === undefined ? `service ${i + 1}` : `service ${i + 1} (${row.revision.rev})`,
          script: yield* serviceEntry(root),
          loader: "node",
          cwd: root,
          env: { ...tracing, ...serviceEnv(ctx, url, databaseUrl, serializer, scenario.instances) },
          nodeOptions: row.serviceNodeOptions ?? [],
          speaksIpc: false,
          stopTimeoutMs: 10_000
        })
        componentPids.push(service.pid)
        watched.push(service)
      }
    }

    const client = yield* spawnChild({ name: "load client", script: childScript("load-client"), speaksIpc: true })
    yield* checkNode(client)
    const config: LoadConfig = {
      url,
      realm: options.realm,
      serializer,
      workload: scenario.workload,
      sessions: options.sessions,
      inflight: inflightFor(ctx, scenario),
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
      readyTimeoutMs: 30_000,
      runId: ctx.runId,
      ...(scenario.instances > 1 ? { expectCallees: scenario.instances } : {})
    }
    yield* client.send({ type: "run-load", config })
    const measured = yield* driveLoad(
      client,
      { pids: { router: routerPids, component: componentPids, client: [client.pid], database: databasePids(ctx, scenario.needsDatabase) } },
      ctx.onProgress,
      config.readyTimeoutMs + options.warmupMs + options.durationMs + 120_000,
      row.tracing === true ? ctx.otlp?.received : undefined
    ).pipe(
      // A router or component that dies ends the row at once, with its own last words.
      Effect.raceFirst(
        Effect.raceAll(watched.map((child) => Effect.map(child.exited, (how) => ({ child, how })))).pipe(
          Effect.flatMap(({ child, how }) =>
            Effect.fail(new RowFailed({ message: `${child.name} exited with ${how}\n${child.output()}`.trim() }))
          )
        )
      )
    )
    const load = echoes.length > 1
      ? { ...measured.load, finalChecks: [...measured.load.finalChecks, yield* spreadCheck(echoes)] }
      : measured.load
    return { ...measured, load, routerName }
  })

/** Asks each echo instance how many invocations it served: round-robin must have used them all. */
const spreadCheck = (echoes: ReadonlyArray<Child>) =>
  Effect.gen(function*() {
    const counts: Array<number> = []
    for (const echo of echoes) {
      yield* echo.send({ type: "report-served" })
      for (;;) {
        const message = yield* Queue.take(echo.messages)
        if (message.type === "served") {
          counts.push(message.count)
          break
        }
      }
    }
    const total = counts.reduce((a, b) => a + b, 0)
    const shares = counts.map((c) => `${((100 * c) / Math.max(1, total)).toFixed(1)}%`).join(" / ")
    return {
      name: `calls spread over ${echoes.length} components`,
      ok: counts.every((c) => c > 0),
      detail: `${counts.join(" / ")} invocations, ${shares}`
    }
  }).pipe(
    Effect.timeoutOrElse({
      duration: 5_000,
      orElse: () => Effect.succeed({ name: "calls spread over components", ok: false, detail: "an echo component did not answer" })
    }),
    Effect.catchTag("ChildError", (e) => Effect.succeed({ name: "calls spread over components", ok: false, detail: e.message }))
  )

const runSqlDirect = (row: Row, ctx: RunContext) =>
  Effect.gen(function*() {
    if (ctx.database === undefined) return yield* new RowFailed({ message: "no database" })
    const client = yield* spawnChild({ name: "sql-pg client", script: childScript("sqlpg-direct"), speaksIpc: true })
    yield* checkNode(client)
    yield* client.send({
      type: "run-sql",
      config: {
        databaseUrl: ctx.database.url,
        inflight: ctx.options.inflight,
        warmupMs: ctx.options.warmupMs,
        durationMs: ctx.options.durationMs,
        minConnections: ctx.options.poolMin,
        maxConnections: ctx.options.poolMax,
        multiplex: true,
        transaction: row.scenario.kind === "sql-direct" && row.scenario.transaction
      }
    })
    return yield* driveLoad(
      client,
      { pids: { router: [], component: [], client: [client.pid], database: databasePids(ctx, true) } },
      ctx.onProgress,
      ctx.options.warmupMs + ctx.options.durationMs + 60_000
    )
  })

const pgbenchClients = (ctx: RunContext) => Math.min(ctx.options.inflight, ctx.options.poolMax)

/**
 * The pgbench rows: `SELECT now();`, or the ledger's transfer transaction on accounts opened for
 * the row (then checked after the run like the workload's).
 */
const runPgbenchRow = (scenario: PgbenchScenario, ctx: RunContext) =>
  Effect.gen(function*() {
    const binary = findPgbench()
    const database = ctx.database
    if (database === undefined || binary === undefined) return yield* new RowFailed({ message: "no database or pgbench" })
    const [postmaster] = databasePids(ctx, true)
    const dbCpu: Record<"start" | "end", number | undefined> = { start: undefined, end: undefined }
    const transfer = scenario.script === "transfer"
      ? yield* prepareTransferAccounts(database.url, { runId: ctx.runId, sessions: ctx.options.sessions, inflight: ctx.options.inflight })
      : undefined
    const script: Pick<PgbenchOptions, "scripts" | "variables" | "protocol"> = transfer === undefined
      ? { scripts: [nowScript] }
      : { scripts: transferScripts(transfer), variables: transferVariables(transfer), protocol: "prepared" }
    ctx.onProgress({ _tag: "Phase", phase: "warmup" })
    const run = yield* runPgbench({
      binary,
      ...script,
      onWindowEdge: (edge) => {
        if (postmaster !== undefined) dbCpu[edge] = treeCpuSeconds(postmaster)
        ctx.onProgress({ _tag: "Phase", phase: edge === "start" ? "measure" : "drain" })
      },
      databaseUrl: database.url,
      clients: pgbenchClients(ctx),
      warmupMs: ctx.options.warmupMs,
      durationMs: ctx.options.durationMs,
      onProgress: (line) => ctx.onProgress({ _tag: "Counts", text: line })
    }).pipe(Effect.mapError((e) => new RowFailed({ message: e.message })))
    const finalChecks = transfer === undefined ? [] : yield* checkTransfers(database.url, transfer, run.processed)
    const load: LoadResult = { ...run.result, finalChecks: [...run.result.finalChecks, ...finalChecks] }
    const figures = (cpu: number | undefined): RoleFigures => ({
      cpuSeconds: cpu,
      cpuPer1k: cpu !== undefined && load.ok > 0 ? (cpu / load.ok) * 1000 : undefined,
      peakRss: undefined,
      instances: 1
    })
    const db = dbCpu.start !== undefined && dbCpu.end !== undefined ? dbCpu.end - dbCpu.start : undefined
    return {
      load,
      roles: { client: figures(run.clientCpuSeconds), ...(postmaster !== undefined ? { database: figures(db) } : {}) },
      command: `${run.command} (${run.version})`
    }
  }).pipe(Effect.catchTag("TransferSetupError", (e) => Effect.fail(new RowFailed({ message: e.message }))))

/** Runs one row to a result; never fails: failures and missing parts become the row's status. */
export const runRow = (row: Row, ctx: RunContext): Effect.Effect<RowResult> => {
  const { options } = ctx
  const scenario = row.scenario
  const base = {
    label: row.label,
    scenario: scenario.id,
    description: scenario.description,
    serializer: row.serializer,
    reference: row.reference
  }
  const settings = {
    inflight: scenario.kind === "wamp" ? inflightFor(ctx, scenario) : scenario.kind === "pgbench" ? pgbenchClients(ctx) : options.inflight,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
    ...(scenario.kind === "wamp" ? { sessions: options.sessions, instances: scenario.instances, component: scenario.component } : {}),
    ...(row.serviceNodeOptions !== undefined ? { nodeOptions: row.serviceNodeOptions } : {}),
    ...(row.tracing !== undefined ? { tracing: row.tracing } : {}),
    ...(row.revision !== undefined ? { revision: `${row.revision.rev} (${row.revision.commit})` } : {})
  }
  const reason = scenario.kind === "wamp" ? scenario.available(row.serializer ?? "json") : scenario.available()
  if (reason !== undefined) return Effect.succeed({ ...base, status: "unavailable", reason, settings })
  if (scenario.needsDatabase && ctx.database === undefined) {
    return Effect.succeed({ ...base, status: "unavailable", reason: "no database", settings })
  }

  const measured = scenario.kind === "wamp"
    ? runWamp(row, scenario, row.serializer ?? "json", ctx).pipe(
      Effect.map((m) => ({
        load: m.load,
        roles: m.roles,
        settings: { ...settings, router: m.routerName },
        ...(m.tracingExport === undefined ? {} : { tracingExport: m.tracingExport })
      }))
    )
    : scenario.kind === "sql-direct"
    ? runSqlDirect(row, ctx).pipe(Effect.map((m) => ({ ...m, settings })))
    : runPgbenchRow(scenario, ctx).pipe(
      Effect.map((m) => ({ load: m.load, roles: m.roles, settings: { ...settings, command: m.command } }))
    )

  return measured.pipe(
    Effect.scoped,
    Effect.map((m): RowResult => ({ ...base, status: "ok", ...m })),
    Effect.catchTags({
      RowFailed: (e) => Effect.succeed<RowResult>({ ...base, status: "failed", reason: e.message, settings }),
      ChildError: (e: ChildError) => Effect.succeed<RowResult>({ ...base, status: "failed", reason: `${e.child}: ${e.message}`, settings })
    })
  )
}
