// Migration 8's views: pair_rewards (the DPO implicit reward of each training pair under the
// trained policy π_r) and latest_runs / latest_run(name) (the newest finished run of a name).
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { RunStore, type RunRow } from "../src/RunStore.ts"

const run = (runId: string, name: string, status: RunRow["status"], createdAt: string): RunRow => ({
  runId, name, experiment: "x", config: {}, seed: 1, pairSource: "online", loss: "sigmoid", beta: 0.5,
  status, createdAt, codeVersion: "test", backend: null, device: null
})

const pair = (i: number, refChosen: number, refRejected: number) => ({
  pairId: `p${i}`, runId: "a1", round: 1, promptId: "q", chosenId: `c${i}`, rejectedId: `r${i}`, margin: 1,
  strategy: "max_min", refChosenLogp: refChosen, refRejectedLogp: refRejected, flipped: false
})

describe("pair_rewards and latest_runs", () => {
  it.effect("implicit rewards are β·(log π_r − log π_ref); learned when the chosen side's is larger; latest_run takes the newest finished", () =>
    Effect.gen(function*() {
      const store = yield* RunStore
      yield* store.createRun(run("a1", "a", "finished", "2025-01-01T00:00:00Z"))
      yield* store.createRun(run("a2", "a", "failed", "2025-01-02T00:00:00Z"))
      yield* store.createRun(run("b1", "b", "running", "2025-01-01T00:00:00Z"))
      yield* store.recordStage({ runId: "a1", round: 1, stage: "pairs", pairs: [pair(0, -10, -12), pair(1, -8, -7)] })
      yield* store.recordStage({
        runId: "a1", round: 1, stage: "train", pairLogps: [
          { pairId: "p0", runId: "a1", round: 1, policyCkpt: "pi1", chosenLogp: -9, rejectedLogp: -13 },
          { pairId: "p1", runId: "a1", round: 1, policyCkpt: "pi1", chosenLogp: -8.5, rejectedLogp: -6 }
        ]
      })
      const rewards = yield* store.query("SELECT pair_id, chosen_reward, rejected_reward, implicit_margin, learned FROM pair_rewards WHERE run_id = latest_run('a')")
      // β = 0.5: p0 (−9 − −10)·0.5 = 0.5, (−13 − −12)·0.5 = −0.5; p1 −0.25, 0.5
      assert.deepStrictEqual(rewards.rows, [["p0", 0.5, -0.5, 1, true], ["p1", -0.25, 0.5, -0.75, false]])
      const latest = yield* store.query("SELECT name, run_id, status FROM latest_runs")
      assert.deepStrictEqual(latest.rows, [["a", "a1", "finished"], ["b", "b1", "running"]])
      const none = yield* store.query("SELECT latest_run('nobody') AS id")
      assert.deepStrictEqual(none.rows, [[null]])
    }).pipe(Effect.provide(RunStore.layer(join(mkdtempSync(join(tmpdir(), "odpo-pair-rewards-")), "odpo.duckdb")))))
})
