import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { storeLayer } from "../src/Services.ts"
import { exited, killBeforeRecording, runOnly, spawnOdpo } from "./CliProcess.ts"
import { dumpRun } from "./Tables.ts"

const config = join(import.meta.dirname, "fixtures/tiny-bandit.json")
const odpo = spawnOdpo

describe("odpo resume after odpo run is killed", () => {
  it.live("killed during sampling, training and evaluation, resumed each time: same final rows as an uninterrupted run", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-resume-"))
      const clean = join(dir, "clean.duckdb")
      const crashed = join(dir, "crashed.duckdb")

      const whole = yield* Effect.promise(() => exited(odpo(["run", config, "--db", clean])))
      assert.strictEqual(whole.code, 0, whole.stderr)

      // 1. killed after sampling round 1, before its rollouts are recorded
      yield* Effect.promise(() => killBeforeRecording(["run", config, "--db", crashed], "1:rollouts", dir))
      const run = yield* runOnly(crashed)
      const mid = yield* Effect.gen(function*() {
        return yield* (yield* RunStore.RunStore).listRounds(run.runId)
      }).pipe(Effect.provide(storeLayer(crashed)))
      assert.deepStrictEqual(mid.map((r) => [r.round, r.stage]), [[0, "eval"], [1, "started"]])
      // 2. resumed, then killed while training round 1; 3. resumed, killed while evaluating round 2
      yield* Effect.promise(() => killBeforeRecording(["resume", run.runId, "--db", crashed], "1:train", dir))
      yield* Effect.promise(() => killBeforeRecording(["resume", run.runId, "--db", crashed], "2:eval", dir))
      // 4. resumed to the end
      const last = yield* Effect.promise(() => exited(odpo(["resume", run.runId, "--db", crashed])))
      assert.strictEqual(last.code, 0, last.stderr)

      const a = yield* dumpRun((yield* runOnly(clean)).runId).pipe(Effect.provide(storeLayer(clean)))
      const b = yield* dumpRun(run.runId).pipe(Effect.provide(storeLayer(crashed)))
      for (const table of Object.keys(a)) {
        assert.isAbove(a[table]!.length, 0, table)
        assert.deepStrictEqual(b[table], a[table], `table ${table} differs after kill + resume`)
      }
      assert.strictEqual((yield* runOnly(crashed)).status, "finished")
    }))
})
