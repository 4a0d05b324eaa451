/**
 * Mutation testing only (vitest.stryker.config.ts): activates the mutant under test before any
 * source module loads. Stryker's vitest runner does so only for mutants it runs "statically", and
 * with --testFiles it runs every mutant "at runtime" (activated in beforeAll, after the imports), so
 * a mutant in code that runs at module load (a top-level function or constant) was never active and
 * survived every test. Activating early is harmless for the others: each run loads the modules anew.
 */
import { inject } from "vitest"

const provided = inject as unknown as (key: string) => unknown
if (provided("mode") === "mutant") {
  const name = provided("globalNamespace") as string
  const global = globalThis as unknown as Record<string, { activeMutant?: unknown } | undefined>
  const namespace = global[name] ?? (global[name] = {})
  namespace.activeMutant = provided("activeMutant")
}
