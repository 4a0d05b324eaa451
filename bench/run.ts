/**
 * `npm run bench`: starts what the scenarios need (embedded PostgreSQL, routers, components),
 * drives load from a separate process, checks every result, and reports calls/s, latency,
 * errors, CPU per 1,000 calls and peak RSS per role, the baselines, variants side by side (tracing,
 * another revision), and the project's targets with their verdicts.
 * See bench/README.md for what is measured and how to read it.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Layer, Option, Schema } from "effect"
import { CliError, CliOutput, Command, Flag } from "effect/cli"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type BenchDatabase, benchDatabase, ownDatabase, redactUrl } from "./lib/database.js"
import { machine, versions } from "./lib/machine.js"
import { type BenchOptions, defaults, startScriptNodeOptions } from "./lib/options.js"
import type { Serializer } from "./lib/protocol.js"
import { otlpSink } from "./lib/otlpSink.js"
import { progressPrinter } from "./lib/progress.js"
import { combineRepeats, interleave } from "./lib/repeat.js"
import { renderSpread, renderTable, writeReport } from "./lib/report.js"
import type { Report, RowResult } from "./lib/result.js"
import { revisionWorktree } from "./lib/revision.js"
import { routerConfig } from "./lib/routerConfig.js"
import { type RunContext, runRow } from "./lib/runner.js"
import { type CodeRevision, rowsFor, scenarios } from "./lib/scenarios.js"
import { compareVariants, evaluateTargets, renderComparisons, renderTargets } from "./lib/targets.js"

const flags = {
  duration: Flag.Finite("duration").pipe(
    Flag.withDescription(`Measured seconds per row (default ${defaults.durationMs / 1000}; --quick: ${defaults.quickDurationMs / 1000})`),
    Flag.optional
  ),
  warmup: Flag.Finite("warmup").pipe(
    Flag.withDescription(`Warm-up seconds per row, not measured (default ${defaults.warmupMs / 1000}; --quick: ${defaults.quickWarmupMs / 1000})`),
    Flag.optional
  ),
  sessions: Flag.Int("sessions").pipe(Flag.withDescription("WAMP sessions of the load client (K)"), Flag.withDefault(defaults.sessions)),
  inflight: Flag.Int("inflight").pipe(
    Flag.withDescription("Calls in flight across all sessions (C); heavy scenarios cap it (history: 4)"),
    Flag.withDefault(defaults.inflight)
  ),
  scenarios: Flag.String("scenarios").pipe(
    Flag.withDescription(`Comma-separated scenario ids: ${scenarios.map((s) => s.id).join(", ")} (default all)`),
    Flag.withDefault("")
  ),
  serializers: Flag.String("serializers").pipe(Flag.withDescription("Comma-separated: json,msgpack"), Flag.withDefault("json,msgpack")),
  quick: Flag.Boolean("quick").pipe(Flag.withDescription("Short run: 1 s warm-up, 2 s measured, JSON only"), Flag.withDefault(false)),
  list: Flag.Boolean("list").pipe(Flag.withDescription("List the scenarios and exit"), Flag.withDefault(false)),
  wampUrl: Flag.String("wamp-url").pipe(
    Flag.withDescription("External router for the wampgres rows instead of starting ours (env WAMP_URL)"),
    Flag.optional
  ),
  databaseUrl: Flag.String("database-url").pipe(
    Flag.withDescription("External PostgreSQL instead of an embedded one (env DATABASE_URL)"),
    Flag.optional
  ),
  realm: Flag.String("realm").pipe(Flag.withDescription("WAMP realm (env WAMP_REALM)"), Flag.withDefault(process.env.WAMP_REALM ?? "realm1")),
  poolMin: Flag.Int("pool-min").pipe(Flag.withDescription("Pool minimum of the service and the sql-pg baseline"), Flag.withDefault(3)),
  poolMax: Flag.Int("pool-max").pipe(Flag.withDescription("Pool maximum of the service and the sql-pg baseline; pgbench clients"), Flag.withDefault(10)),
  serviceNodeOptions: Flag.String("service-node-options").pipe(
    Flag.withDescription(
      "Node flags of the service (src/main.ts), e.g. \"--max-semi-space-size=4\"; several variants separated by \";\" " +
        "run each service row once per variant (\"none\": no flags; \"start\": the flags of npm start). Default: start"
    ),
    Flag.withDefault("start")
  ),
  tracing: Flag.String("tracing").pipe(
    Flag.withDescription(
      "Tracing of our router and the service, comma-separated variants: off, on (e.g. --tracing=off,on runs each such row " +
        "once per variant, side by side). On: every call traced to an OTLP/HTTP receiver in this process. Default: off"
    ),
    Flag.withDefault("off")
  ),
  serviceRevision: Flag.String("service-revision").pipe(
    Flag.withDescription(
      "Also run the rows of our router and service from this git revision (comma-separated for several), side by side " +
        "with this checkout, tracing off: e.g. the revision before a change, to compare with"
    ),
    Flag.withDefault("")
  ),
  repeat: Flag.Int("repeat").pipe(
    Flag.withDescription(
      "Measure every row N times, the variants of a scenario interleaved (A B C A B C); each row reports its repeats' medians and spread"
    ),
    Flag.withDefault(1)
  ),
  resultsDir: Flag.String("results-dir").pipe(Flag.withDescription("Where the JSON report goes"), Flag.withDefault("bench/results"))
}

type Parsed = {
  readonly [K in keyof typeof flags]: (typeof flags)[K] extends Flag.Flag<infer A> ? A : never
}

const list = (s: string): Array<string> => s.split(",").map((x) => x.trim()).filter((x) => x !== "")

/** `--service-node-options`: variants separated by ";", each a space-separated list of Node flags. */
const serviceVariants = (s: string): Array<Array<string>> => {
  const variants = s.split(";").map((v) => v.trim()).map((v) =>
    v === "start" ? startScriptNodeOptions() : v === "none" ? [] : v.split(/\s+/).filter((w) => w !== "")
  )
  return variants.length === 0 ? [startScriptNodeOptions()] : variants
}

/** A wrong flag value: printed as one line plus where the flags are, exit code 2. */
class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { message: Schema.String }) {}

const flagsHint = "npm run bench -- --help lists the flags"

const usage = (message: string) => Effect.fail(new UsageError({ message }))

/**
 * Flags the parser refuses (unknown flag, a value of the wrong type): the problem and where the
 * flags are, instead of the whole help page. `--help` still prints the help.
 */
const shortErrors = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Console.error(`${event.errors.map((error) => error.message).join("; ")}\n${flagsHint}`)
      : CliOutput.defaultPresenter.present(event)
})

const resolveOptions = (p: Parsed): Effect.Effect<BenchOptions, UsageError> =>
  Effect.gen(function*() {
    const serializers = p.quick && p.serializers === "json,msgpack" ? ["json"] : list(p.serializers)
    for (const s of serializers) {
      if (s !== "json" && s !== "msgpack") return yield* usage(`--serializers: unknown serializer "${s}" (json, msgpack)`)
    }
    const wanted = list(p.scenarios)
    for (const id of wanted) {
      if (!scenarios.some((s) => s.id === id)) {
        return yield* usage(`--scenarios: unknown scenario "${id}"; known: ${scenarios.map((s) => s.id).join(", ")}`)
      }
    }
    const seconds = (o: Option.Option<number>, normal: number, quick: number) =>
      Option.match(o, { onNone: () => (p.quick ? quick : normal), onSome: (s) => Math.round(s * 1000) })
    const positive = { sessions: p.sessions, inflight: p.inflight, "pool-max": p.poolMax, repeat: p.repeat }
    for (const [name, value] of Object.entries(positive)) {
      if (value < 1) return yield* usage(`--${name} must be at least 1`)
    }
    const durationMs = seconds(p.duration, defaults.durationMs, defaults.quickDurationMs)
    const warmupMs = seconds(p.warmup, defaults.warmupMs, defaults.quickWarmupMs)
    if (durationMs < 100) return yield* usage("--duration must be at least 0.1 seconds")
    if (warmupMs < 0) return yield* usage("--warmup cannot be negative")
    const tracing = yield* tracingVariants(p.tracing)
    return {
      durationMs,
      warmupMs,
      sessions: p.sessions,
      inflight: p.inflight,
      scenarios: wanted,
      serializers: serializers as Array<Serializer>,
      realm: p.realm,
      wampUrl: Option.getOrUndefined(p.wampUrl) ?? process.env.WAMP_URL,
      databaseUrl: Option.getOrUndefined(p.databaseUrl) ?? process.env.DATABASE_URL,
      poolMin: p.poolMin,
      poolMax: p.poolMax,
      resultsDir: p.resultsDir,
      serviceNodeOptions: serviceVariants(p.serviceNodeOptions),
      tracing,
      serviceRevisions: list(p.serviceRevision)
    }
  })

/** `--tracing`: off, on, or both in the order given. */
const tracingVariants = (s: string) =>
  Effect.gen(function*() {
    const words = list(s)
    if (words.length === 0) return yield* usage("--tracing: expected off, on, or off,on")
    const variants: Array<boolean> = []
    for (const word of words) {
      if (word !== "off" && word !== "on") return yield* usage(`--tracing: unknown variant "${word}" (off, on)`)
      if (variants.includes(word === "on")) return yield* usage(`--tracing: "${word}" given twice`)
      variants.push(word === "on")
    }
    return variants
  })

const bench = Effect.fn("bench")(function*(parsed: Parsed) {
  if (parsed.list) {
    for (const s of scenarios) yield* Console.log(`${s.id.padEnd(18)} ${s.description}`)
    return
  }
  const options = yield* resolveOptions(parsed)
  const selected = options.scenarios.length === 0 ? scenarios : scenarios.filter((s) => options.scenarios.includes(s.id))
  const revisions: Array<CodeRevision> = []
  for (const rev of options.serviceRevisions) {
    const revision = yield* revisionWorktree(rev).pipe(Effect.mapError((e) => new UsageError({ message: e.message })))
    yield* Console.log(`rev ${rev}: commit ${revision.commit}, checked out in ${revision.root}`)
    revisions.push(revision)
  }
  const rows = rowsFor(selected, options.serializers, {
    nodeOptions: options.serviceNodeOptions,
    tracing: options.tracing,
    revisions
  })
  const startedAt = new Date().toISOString()
  const runId = startedAt.replace(/\D/g, "").slice(0, 14)
  const machineInfo = machine()
  yield* Console.log(
    `wampgres bench: ${rows.length} rows, ${options.warmupMs / 1000} s warm-up + ${options.durationMs / 1000} s measured each, ` +
      `${options.sessions} sessions, ${options.inflight} calls in flight, ${machineInfo.cpus} CPUs (load ${String(machineInfo.loadAverage)})`
  )

  const sink = rows.some((r) => r.tracing === true) ? yield* otlpSink : undefined
  if (sink !== undefined) yield* Console.log(`rows with tracing on export every call's spans to the OTLP receiver at ${sink.endpoint}`)

  const tempDir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "wampgres-bench-run-"))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )
  const routerConfigFile = join(tempDir, "router.json")
  yield* Effect.promise(() => writeFile(routerConfigFile, JSON.stringify(routerConfig(options.realm), null, 2)))

  // The database lives for the whole run; failing to get one leaves only the rows without it.
  let database: BenchDatabase | undefined
  let databaseProblem: string | undefined
  if (rows.some((r) => r.scenario.needsDatabase && (r.scenario.kind !== "wamp" || r.scenario.available(r.serializer ?? "json") === undefined))) {
    yield* Console.log(options.databaseUrl === undefined ? "starting embedded PostgreSQL..." : `using ${redactUrl(options.databaseUrl)}`)
    const got = yield* benchDatabase(options.databaseUrl).pipe(Effect.result)
    if (got._tag === "Success") database = got.success
    else databaseProblem = got.failure.message
    if (databaseProblem !== undefined) yield* Console.log(`database unavailable: ${databaseProblem}`)
  }

  // Another revision's service migrates a database of its own: its migrations are not this checkout's.
  const revisionDatabases: Record<string, { url: string } | { problem: string }> = {}
  for (const revision of revisions) {
    const needed = rows.some((r) => r.revision === revision && r.scenario.kind === "wamp" && r.scenario.component === "service")
    if (database === undefined || !needed) continue
    const own = yield* ownDatabase(database, `wampgres_rev_${revision.commit}`).pipe(Effect.result)
    revisionDatabases[revision.commit] = own._tag === "Success" ? { url: own.success } : { problem: own.failure.message }
  }

  const progress = progressPrinter()
  const ctx: RunContext = { options, database, runId, routerConfigFile, onProgress: () => undefined, otlp: sink, revisionDatabases }
  // Each row `repeat` times, the variants of one scenario and serializer taking turns.
  const repeat = parsed.repeat
  const steps = interleave(rows, repeat, (r) => JSON.stringify([r.scenario.id, r.serializer ?? null]))
  const measured: Array<Array<RowResult>> = rows.map(() => [])
  for (const [n, { repeat: k, row: i }] of steps.entries()) {
    const row = rows[i] as (typeof rows)[number]
    const tag = `[${n + 1}/${steps.length}] ${row.label}${repeat > 1 ? ` (repeat ${k}/${repeat})` : ""}`
    const show = progress.row(tag)
    show("starting")
    let result = yield* runRow(row, { ...ctx, runId: `${runId}r${i + 1}${repeat > 1 ? `x${k}` : ""}`, onProgress: show })
    if (result.status === "unavailable" && result.reason === "no database" && databaseProblem !== undefined) {
      result = { ...result, reason: `database: ${databaseProblem}` }
    }
    measured[i]?.push(result)
    progress.clear()
    const summary = result.status === "ok"
      ? `${Math.round(result.load?.callsPerSecond ?? 0).toLocaleString("en-US")} calls/s, ${result.load?.errors ?? 0} errors`
      : `${result.status}: ${(result.reason ?? "").split("\n")[0]}`
    yield* Console.log(`${tag}: ${summary}`)
  }
  const results = measured.map(combineRepeats)

  const targets = evaluateTargets(results)
  const comparisons = renderComparisons(compareVariants(results))
  const spread = renderSpread(results)
  const table = spread === "" ? renderTable(results) : `${renderTable(results)}\n\n${spread}`
  if (comparisons !== "") {
    yield* Console.log(
      `\n${table}\n\nVariants (ratios within this run; CPU/call: our router + the service; µs: CPU per call added)\n${comparisons}`
    )
  } else {
    yield* Console.log(`\n${table}`)
  }
  yield* Console.log(`\nTargets (from this run)\n${renderTargets(targets)}`)
  const report: Report = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machineInfo,
    versions: versions(),
    settings: {
      ...options,
      databaseUrl: options.databaseUrl === undefined ? undefined : redactUrl(options.databaseUrl),
      pgbenchClients: Math.min(options.inflight, options.poolMax),
      repeat,
      revisions: revisions.map(({ commit, rev }) => ({ rev, commit }))
    },
    database: database === undefined
      ? undefined
      : { url: redactUrl(database.url), embedded: database.embedded, ...database.server },
    rows: results,
    targets
  }
  if (sink !== undefined) {
    const { bytes, requests } = sink.received()
    yield* Console.log(`\nOTLP receiver: ${requests} export requests, ${bytes} bytes received in the whole run`)
  }
  const file = yield* Effect.promise(() => writeReport(options.resultsDir, report))
  yield* Console.log(`\nJSON report: ${file}`)
}, Effect.scoped)

Command.make("bench", flags, bench).pipe(
  Command.withDescription("Benchmark wampgres: routers, components, PostgreSQL; see bench/README.md"),
  Command.run({ version: "0.1.0" }),
  Effect.tapError((error) => error instanceof UsageError ? Console.error(`${error.message}\n${flagsHint}`) : Effect.void),
  Effect.provide(Layer.merge(NodeServices.layer, shortErrors)),
  (program) =>
    NodeRuntime.runMain(program, {
      disableErrorReporting: true,
      // 2: the command line is wrong (already explained above); 1: the run failed.
      teardown: (exit, onExit) => {
        if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return onExit(0)
        const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
        if (error instanceof UsageError || CliError.isCliError(error)) return onExit(2)
        process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
        onExit(1)
      }
    })
)
