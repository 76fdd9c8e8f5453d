// Kill-and-resume for the RL arm: an RLOO run killed before recording its advantages, its training
// and its evaluation, resumed each time, ends with an uninterrupted run's rows (advantages and step_samples included).
import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { storeLayer } from "../src/Services.ts"
import { killBeforeRecording, odpo, runOnly } from "./CliProcess.ts"
import { dumpRun, policyGradientTables } from "./Tables.ts"

const config = join(import.meta.dirname, "fixtures/tiny-bandit-rloo.json")

describe("odpo resume of an RLOO run", () => {
  it.live("killed before recording advantages, training and evaluation, resumed each time: same final rows", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-rl-resume-"))
      const clean = join(dir, "clean.duckdb")
      const crashed = join(dir, "crashed.duckdb")
      const whole = yield* Effect.promise(() => odpo(["run", config, "--db", clean]))
      assert.strictEqual(whole.code, 0, whole.stderr)

      yield* Effect.promise(() => killBeforeRecording(["run", config, "--db", crashed], "1:advantages", dir))
      const run = yield* runOnly(crashed)
      const stageNow = Effect.gen(function*() {
        return (yield* (yield* RunStore.RunStore).listRounds(run.runId)).map((r) => [r.round, r.stage])
      }).pipe(Effect.provide(storeLayer(crashed)))
      assert.deepStrictEqual(yield* stageNow, [[0, "eval"], [1, "scores"]])
      yield* Effect.promise(() => killBeforeRecording(["resume", run.runId, "--db", crashed], "1:train", dir))
      assert.deepStrictEqual(yield* stageNow, [[0, "eval"], [1, "advantages"]])
      yield* Effect.promise(() => killBeforeRecording(["resume", run.runId, "--db", crashed], "2:eval", dir))
      const last = yield* Effect.promise(() => odpo(["resume", run.runId, "--db", crashed]))
      assert.strictEqual(last.code, 0, last.stderr)

      const a = yield* dumpRun((yield* runOnly(clean)).runId, policyGradientTables).pipe(Effect.provide(storeLayer(clean)))
      const b = yield* dumpRun(run.runId, policyGradientTables).pipe(Effect.provide(storeLayer(crashed)))
      for (const table of policyGradientTables) {
        assert.isAbove(a[table]!.length, 0, table)
        assert.deepStrictEqual(b[table], a[table], `table ${table} differs after kill + resume`)
      }
      assert.strictEqual((yield* runOnly(crashed)).status, "finished")
    }), { timeout: 600_000 })
})
