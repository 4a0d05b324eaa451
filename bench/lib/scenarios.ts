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

/** `echo`: bench/children/echo-component.ts; `service`: the real service, src/main.ts. */
export type ComponentKind = "echo" | "service"

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
  readonly needsDatabase: true
  readonly available: () => string | undefined
}

export interface PgbenchScenario {
  readonly kind: "pgbench"
  readonly id: string
  readonly description: string
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
    needsDatabase: true,
    available: () => undefined
  },
  {
    kind: "pgbench",
    id: "pgbench",
    description: "baseline: pgbench with a SELECT now(); script",
    needsDatabase: true,
    available: () => findPgbench() === undefined ? "pgbench not found (PATH, /usr/lib/postgresql/*/bin)" : undefined
  }
]

/** One line of the report: a scenario with one serializer (baselines have none). */
export interface Row {
  readonly scenario: Scenario
  readonly serializer: Serializer | undefined
  readonly label: string
  /** Node flags of the service processes (rows whose component is the service). */
  readonly serviceNodeOptions?: ReadonlyArray<string>
}

/**
 * One row per scenario and serializer; service rows once per Node-flag variant, labelled with
 * their flags when there are several variants.
 */
export const rowsFor = (
  selected: ReadonlyArray<Scenario>,
  serializers: ReadonlyArray<Serializer>,
  serviceVariants: ReadonlyArray<ReadonlyArray<string>> = [[]]
): Array<Row> =>
  selected.flatMap((scenario): Array<Row> => {
    if (scenario.kind !== "wamp") return [{ scenario, serializer: undefined, label: scenario.id }]
    return serializers.flatMap((serializer): Array<Row> => {
      const label = `${scenario.id} ${serializer}`
      if (scenario.component !== "service") return [{ scenario, serializer, label }]
      return serviceVariants.map((flags) => ({
        scenario,
        serializer,
        serviceNodeOptions: flags,
        label: serviceVariants.length > 1 ? `${label} [${flags.length === 0 ? "no flags" : flags.join(" ")}]` : label
      }))
    })
  })
