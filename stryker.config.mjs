// Mutation testing (`npm run mutate`, not part of `npm test`): StrykerJS with its vitest runner.
// scripts/mutate.sh runs one target file at a time with the test files that specify it, so each run
// fits on a small machine; the score per file is in reports/mutation/by-target/<target>.html.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  plugins: ["@stryker-mutator/vitest-runner"],
  vitest: { configFile: "vitest.stryker.config.ts", related: false },
  coverageAnalysis: "perTest",
  reporters: ["clear-text", "html", "json", "progress-append-only"],
  concurrency: 1,
  timeoutMS: 5000,
  timeoutFactor: 2,
  checkers: [],
  // TypeScript 7 has no JavaScript API for Stryker to rewrite tsconfig.json with; the sandbox keeps
  // the file as it is (its paths are relative and stay valid), so point Stryker at none.
  tsconfigFile: "no-tsconfig-rewrite.json",
  ignorePatterns: [".data", "dist", "bench/results", "reports", "test-results", "web", "docs"],
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always"
}
