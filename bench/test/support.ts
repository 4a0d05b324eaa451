/** What the bench's tests share: a short run's options and scenarios by id. */
import type { BenchOptions } from "../lib/options.js"
import { scenarios } from "../lib/scenarios.js"

/** Options of a short run (0.5 s warm-up, 1 s measured, 8 calls in flight) with a pool of `poolMax`. */
export const shortRun = (poolMax: number): BenchOptions => ({
  durationMs: 1_000,
  warmupMs: 500,
  sessions: 2,
  inflight: 8,
  scenarios: [],
  serializers: ["json"],
  realm: "realm1",
  wampUrl: undefined,
  databaseUrl: undefined,
  poolMin: 1,
  poolMax,
  resultsDir: "unused",
  serviceNodeOptions: [[]],
  tracing: [false],
  serviceRevisions: []
})

/** The scenario `id`; throws when there is none. */
export const scenario = (id: string) => {
  const s = scenarios.find((x) => x.id === id)
  if (s === undefined) throw new Error(`no scenario ${id}`)
  return s
}
