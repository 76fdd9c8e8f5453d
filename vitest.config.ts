import { defineConfig } from "vitest/config"

// CI sets ODPO_TEST_REPORT to a path: vitest then also writes its JSON report there.
const report = process.env.ODPO_TEST_REPORT

export default defineConfig({
  test: {
    reporters: report ? ["default", "json"] : ["default"],
    ...(report ? { outputFile: { json: report } } : {}),
    include: ["packages/*/test/**/*.test.ts", "experiments/**/*.test.ts"],
    setupFiles: ["packages/model/test/setup.ts"],
    // A guard against a hung test, not a speed check (benchmarks check speed): on a busy 2-core
    // machine the end-to-end tests (several SFT + DPO rounds, real processes) take minutes.
    testTimeout: 900_000,
    hookTimeout: 900_000,
    // tfjs's cpu backend is single-threaded JS: run files in separate forks, one per core.
    pool: "forks",
    maxWorkers: 2
  }
})
