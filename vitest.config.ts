import { defineConfig } from "vitest/config"

// CI sets ODPO_TEST_REPORT to a path: vitest then also writes its JSON report there.
const report = process.env.ODPO_TEST_REPORT

export default defineConfig({
  test: {
    reporters: report ? ["default", "json"] : ["default"],
    ...(report ? { outputFile: { json: report } } : {}),
    include: ["packages/*/test/**/*.test.ts", "experiments/**/*.test.ts"],
    setupFiles: ["packages/model/test/setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs's cpu backend is single-threaded JS: run files in separate forks, one per core.
    pool: "forks",
    maxWorkers: 2
  }
})
