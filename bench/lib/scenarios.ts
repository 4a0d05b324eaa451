/**
 * The scenario table: what `npm run bench` measures, in order. Each entry names its router, its
 * component and its workload; `available` says why a row cannot run yet (a part not built, a
 * tool not installed) so the report prints "unavailable: <reason>" instead of a figure.
 * To add a scenario: add a workload in `workloads.ts` (if new) and one entry here.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { findPgbench } from "./pgbench.js"
import type { Serializer, WorkloadName } from "./protocol.js"

export type RouterKind = "wampgres" | "fox-wamp"

/**
 * `echo`: bench/children/echo-component.ts; `service`: the real service, src/main.ts;
 * `autobahn-pg`: bench/children/autobahn-pg-component.ts, the same procedures hand-written with
 * autobahn-js and a node-postgres `Pool`, as a new user would write them.
 */
export type ComponentKind = "echo" | "service" | "autobahn-pg"

export interface WampScenario {
  readonly kind: "wamp"
  readonly id: string
  readonly description: string
  readonly workload: WorkloadName
  readonly router: RouterKind
  readonly component: ComponentKind
  /** Component instances sharing the registrations (`invoke: roundrobin` when more than one). */
  readonly instances: number
  /** Caps --inflight for heavy calls (a history call streams 10k rows). */
  readonly maxInflight?: number
  readonly needsDatabase: boolean
  readonly available: (serializer: Serializer) => string | undefined
}

export interface SqlDirectScenario {
  readonly kind: "sql-direct"
  readonly id: string
  readonly description: string
  /** Each statement in its own transaction (`withTransaction`: BEGIN, the statement, COMMIT). */
  readonly transaction: boolean
  readonly needsDatabase: true
  readonly available: () => string | undefined
}

export interface PgbenchScenario {
  readonly kind: "pgbench"
  readonly id: string
  readonly description: string
  /** `now`: `SELECT now();`; `transfer`: the ledger's transfer transaction (`pgbench-transfer.ts`). */
  readonly script: "now" | "transfer"
  readonly needsDatabase: true
  readonly available: () => string | undefined
}

export type Scenario = WampScenario | SqlDirectScenario | PgbenchScenario

const root = process.cwd()
const missing = (path: string, what: string): string | undefined =>
  existsSync(join(root, path)) ? undefined : `${what} not built yet (${path} missing)`

/** Our router: the `Router` layer of src/router/index.ts. */
export const ourRouterMissing = (): string | undefined => missing("src/router/index.ts", "the wampgres router")
const serviceMissing = (): string | undefined => missing("src/main.ts", "the service (src/main.ts)")
/** The ledger counts once its group is in the composition (src/main.ts names it). */
const ledgerMissing = (): string | undefined => {
  const absent = serviceMissing() ?? missing("src/procedures/ledger", "the ledger example")
  if (absent !== undefined) return absent
  return /ledger/i.test(readFileSync(join(root, "src/main.ts"), "utf8"))
    ? undefined
    : "the ledger example is not in the composition yet (src/main.ts)"
}

const routerMissing = (router: RouterKind, serializer: Serializer): string | undefined =>
  router === "fox-wamp"
    ? serializer === "json" ? undefined : "fox-wamp speaks only wamp.2.json"
    : ourRouterMissing()

const wamp = (s: Omit<WampScenario, "kind" | "available">, extra: () => string | undefined = () => undefined): WampScenario => ({
  kind: "wamp",
  ...s,
  available: (serializer) => routerMissing(s.router, serializer) ?? extra()
})

export const scenarios: ReadonlyArray<Scenario> = [
  wamp({
    id: "echo",
    description: "echo, no database: router + echo component",
    workload: "echo",
    router: "wampgres",
    component: "echo",
    instances: 1,
    needsDatabase: false
  }),
  wamp({
    id: "echo@fox-wamp",
    description: "the same echo through the npm router fox-wamp (the router peer)",
    workload: "echo",
    router: "fox-wamp",
    component: "echo",
    instances: 1,
    needsDatabase: false
  }),
  wamp({
    id: "now.v1",
    description: "com.example.now.v1: one statement",
    workload: "now.v1",
    router: "wampgres",
    component: "service",
    instances: 1,
    needsDatabase: true
  }, serviceMissing),
  wamp({
    id: "now.v3",
    description: "com.example.now.v3: a transaction",
    workload: "now.v3",
    router: "wampgres",
    component: "service",
    instances: 1,
    needsDatabase: true
  }, serviceMissing),
  wamp({
    id: "ledger.transfer",
    description: "com.example.ledger.transfer: a write transaction",
    workload: "ledger.transfer",
    router: "wampgres",
    component: "service",
    instances: 1,
    needsDatabase: true
  }, ledgerMissing),
  wamp({
    id: "ledger.history",
    description: "com.example.ledger.history: 10k rows as progressive results",
    workload: "ledger.history",
    router: "wampgres",
    component: "service",
    instances: 1,
    maxInflight: 4,
    needsDatabase: true
  }, ledgerMissing),
  wamp({
    id: "now.v1@autobahn-pg",
    description: "com.example.now.v1 hand-written: autobahn-js + node-postgres Pool, SELECT now()",
    workload: "now.v1",
    router: "wampgres",
    component: "autobahn-pg",
    instances: 1,
    needsDatabase: true
  }),
  wamp({
    id: "now.v3@autobahn-pg",
    description: "com.example.now.v3 hand-written: autobahn-js + node-postgres Pool, BEGIN; SELECT now(); COMMIT",
    workload: "now.v3",
    router: "wampgres",
    component: "autobahn-pg",
    instances: 1,
    needsDatabase: true
  }),
  wamp({
    id: "echo-x2",
    description: "scale-out: two echo components, invoke roundrobin",
    workload: "echo",
    router: "wampgres",
    component: "echo",
    instances: 2,
    needsDatabase: false
  }),
  wamp({
    id: "now.v1-x2",
    description: "scale-out: two service instances, invoke roundrobin",
    workload: "now.v1",
    router: "wampgres",
    component: "service",
    instances: 2,
    needsDatabase: true
  }, serviceMissing),
  {
    kind: "sql-direct",
    id: "sql-pg",
    description: "baseline: SELECT now() through @effect/sql-pg directly, no WAMP",
    transaction: false,
    needsDatabase: true,
    available: () => undefined
  },
  {
    kind: "sql-direct",
    id: "sql-pg-tx",
    description: "baseline: the same in a transaction each (withTransaction: BEGIN, SELECT now(), COMMIT), no WAMP",
    transaction: true,
    needsDatabase: true,
    available: () => undefined
  },
  {
    kind: "pgbench",
    id: "pgbench",
    description: "baseline: pgbench with a SELECT now(); script",
    script: "now",
    needsDatabase: true,
    available: () => findPgbench() === undefined ? "pgbench not found (PATH, /usr/lib/postgresql/*/bin)" : undefined
  },
  {
    kind: "pgbench",
    id: "pgbench-transfer",
    description: "baseline: pgbench running the ledger's transfer transaction (same statements, accounts, clients)",
    script: "transfer",
    needsDatabase: true,
    available: () =>
      ledgerMissing() ?? (findPgbench() === undefined ? "pgbench not found (PATH, /usr/lib/postgresql/*/bin)" : undefined)
  }
]

/**
 * Another revision of wampgres whose router and service some rows run instead of this checkout's
 * (`--service-revision`): a detached git worktree the bench creates and removes.
 */
export interface CodeRevision {
  /** The revision as given (`80b3971^1`). */
  readonly rev: string
  /** Its commit, abbreviated. */
  readonly commit: string
  /** The worktree's directory (its node_modules is this checkout's). */
  readonly root: string
}

/** The variants each row that runs wampgres code is repeated for (first of each: the reference). */
export interface Variants {
  /** Node flags of the service processes, one entry per variant. */
  readonly nodeOptions: ReadonlyArray<ReadonlyArray<string>>
  /** Tracing off/on for this checkout's router and service, one entry per variant. */
  readonly tracing: ReadonlyArray<boolean>
  /** Other revisions to run beside this checkout (tracing off: they are the "before"). */
  readonly revisions: ReadonlyArray<CodeRevision>
}

export const defaultVariants: Variants = { nodeOptions: [[]], tracing: [false], revisions: [] }

/** One line of the report: a scenario with one serializer (baselines have none) and one variant. */
export interface Row {
  readonly scenario: Scenario
  readonly serializer: Serializer | undefined
  readonly label: string
  /** Node flags of the service processes (rows whose component is the service). */
  readonly serviceNodeOptions?: ReadonlyArray<string>
  /** Our router and service export every call's spans (rows that run wampgres code). */
  readonly tracing?: boolean
  /** Our router and service from this revision instead of this checkout. */
  readonly revision?: CodeRevision
  /**
   * This checkout, the first tracing and Node-flag variants: the rows the targets read. Rows of
   * other variants are compared with these (tracing cost, before/after).
   */
  readonly reference: boolean
}

/** Rows whose processes run wampgres code (our router or the service), which the variants apply to. */
export const runsOurCode = (scenario: Scenario): boolean =>
  scenario.kind === "wamp" && (scenario.router === "wampgres" || scenario.component === "service")

const variantLabel = (parts: ReadonlyArray<string>): string => parts.length === 0 ? "" : ` [${parts.join(", ")}]`

/**
 * One row per scenario and serializer; rows that run wampgres code once per variant, side by side:
 * each other revision first (the "before"), then this checkout once per tracing variant; service
 * rows all that once per Node-flag variant. Labels name the variant when there is a choice.
 */
export const rowsFor = (
  selected: ReadonlyArray<Scenario>,
  serializers: ReadonlyArray<Serializer>,
  variants: Variants = defaultVariants
): Array<Row> => {
  const tracingChoice = variants.tracing.length > 1 || variants.tracing.some((t) => t) || variants.revisions.length > 0
  return selected.flatMap((scenario): Array<Row> => {
    if (scenario.kind !== "wamp") return [{ scenario, serializer: undefined, label: scenario.id, reference: true }]
    return serializers.flatMap((serializer): Array<Row> => {
      const base = `${scenario.id} ${serializer}`
      if (!runsOurCode(scenario)) return [{ scenario, serializer, label: base, reference: true }]
      const service = scenario.component === "service"
      const flagVariants = service ? variants.nodeOptions : [undefined]
      return flagVariants.flatMap((flags, f): Array<Row> => {
        const flagPart = flags !== undefined && variants.nodeOptions.length > 1
          ? [flags.length === 0 ? "no flags" : flags.join(" ")]
          : []
        const withFlags = flags === undefined ? {} : { serviceNodeOptions: flags }
        const before = variants.revisions.map((revision): Row => ({
          scenario,
          serializer,
          ...withFlags,
          tracing: false,
          revision,
          label: base + variantLabel([...flagPart, `rev ${revision.rev}`]),
          reference: false
        }))
        const current = variants.tracing.map((tracing, t): Row => ({
          scenario,
          serializer,
          ...withFlags,
          tracing,
          label: base + variantLabel([...flagPart, ...(tracingChoice ? [`tracing ${tracing ? "on" : "off"}`] : [])]),
          reference: f === 0 && t === 0
        }))
        return [...before, ...current]
      })
    })
  })
}
