import { defineConfig } from "vitest/config"

/**
 * The suite as one vitest project, for mutation testing (stryker.config.mjs; not used by `npm test`).
 * Two adaptations of Stryker's vitest runner (written for vitest 4) to vitest 5:
 * - one project: the runner tells test workers which mutant is active through the root project's
 *   provided values, which the projects of vitest.config.ts do not see;
 * - test names: the runner selects the tests covering a mutant by a name pattern joining describe
 *   and test names with " ", vitest 5 matches it against names joined with " > ". The pattern it sets
 *   is widened to accept either separator wherever it has a space.
 * And one fix: test/support/strykerActivation.ts activates the mutant before the sources load.
 */
export default defineConfig({
  plugins: [{
    name: "stryker-test-name-pattern",
    configureVitest({ project }) {
      let pattern: RegExp | undefined
      Object.defineProperty(project.config, "testNamePattern", {
        configurable: true,
        enumerable: true,
        get: () => pattern === undefined ? undefined : new RegExp(pattern.source.replaceAll(" ", "(?: > | )"), pattern.flags),
        set: (value: RegExp | string | undefined) => {
          pattern = value === undefined ? undefined : new RegExp(value)
        }
      })
    }
  }],
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    setupFiles: ["test/support/strykerActivation.ts"]
  }
})
