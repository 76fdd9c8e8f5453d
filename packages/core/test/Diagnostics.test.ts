import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Diagnostics from "../src/Diagnostics.ts"
import { RunStore, type RolloutWrite, type StageWrite } from "../src/RunStore.ts"

const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 8, stop: [] }

const rollout = (runId: string, round: number, i: number, length: number): RolloutWrite => ({
  rolloutId: `${runId}/${round}/${i}`, runId, round, purpose: "train", promptId: "p", sampleIdx: i, policyCkpt: "ck0",
  tokenIds: Array.from({ length }, (_, t) => t + i), tokenLogprobs: Array.from({ length }, () => -1), logprobSum: -length,
  length, finishReason: "length", text: `sample ${i}`, params, seed: i
})

/** Pearson's r, by the textbook formula. */
const pearson = (x: ReadonlyArray<number>, y: ReadonlyArray<number>) => {
  const mx = x.reduce((a, b) => a + b) / x.length
  const my = y.reduce((a, b) => a + b) / y.length
  const sxy = x.reduce((a, xi, i) => a + (xi - mx) * (y[i]! - my), 0)
  const sxx = x.reduce((a, xi) => a + (xi - mx) ** 2, 0)
  const syy = y.reduce((a, yi) => a + (yi - my) ** 2, 0)
  return sxy / Math.sqrt(sxx * syy)
}

/**
 * One run, rounds 0–4, built so that each flag fires exactly once:
 * round 1 — 1 tie + 1 duplicate of 4 candidates (50 %: collapse); length anti-correlated with reward;
 * round 2 — proxy up, gold down (first time: no flag yet); length–reward r = 0.983 (length exploitation);
 * round 3 — proxy up, gold down again (over-optimisation); every length equal (r undefined: no flag);
 * round 4 — both down.
 */
const rounds: Array<{ eval: [number, number]; filters?: [number, number, number]; lengths?: Array<number>; rewards?: Array<number> }> = [
  { eval: [0.1, 0.1] },
  { eval: [0.2, 0.3], filters: [4, 1, 1], lengths: [1, 2, 3, 4], rewards: [0.4, 0.3, 0.2, 0.1] },
  { eval: [0.3, 0.25], filters: [4, 1, 0], lengths: [1, 2, 3, 4], rewards: [0.1, 0.2, 0.3, 0.5] },
  { eval: [0.4, 0.2], filters: [4, 0, 0], lengths: [3, 3, 3, 3], rewards: [0.1, 0.2, 0.3, 0.5] },
  { eval: [0.35, 0.1], filters: [4, 0, 0] }
]

const writes = (runId: string): Array<StageWrite> =>
  rounds.flatMap((r, round) => {
    const rollouts = (r.lengths ?? []).map((len, i) => rollout(runId, round, i, len))
    return [
      { runId, round, stage: "started", round_: { policyCkpt: "ck0", refCkpt: "ck0" } },
      {
        runId, round, stage: "pairs",
        prompts: [{ promptId: "p", task: "bandit", split: "train", text: "", tokenIds: [1] }],
        rollouts,
        scores: rollouts.map((x, i) => ({ rolloutId: x.rolloutId, source: "task", reward: r.rewards![i]!, goldReward: r.rewards![i]! })),
        pairFilters: r.filters
          ? [["candidates", r.filters[0]], ["ties", r.filters[1]], ["duplicates", r.filters[2]]].map(([filter, count]) => ({ runId, round, filter: filter as string, count: count as number }))
          : []
      },
      { runId, round, stage: "eval", evals: [{ runId, round, split: "heldout", metrics: { "eval/reward": r.eval[0], "eval/gold_reward": r.eval[1] } }] }
    ] satisfies Array<StageWrite>
  })

describe("Diagnostics", () => {
  it.effect("the diagnostics view flags collapse, over-optimisation and length exploitation at their rounds, and warnings say so", () =>
    Effect.gen(function*() {
      const store = yield* RunStore
      yield* store.createRun({
        runId: "d", name: "diag", experiment: "test", config: { task: { name: "bandit" } }, seed: 0, pairSource: "online",
        loss: "sigmoid", beta: 0.1, status: "running", createdAt: "2025-01-01T00:00:00.000Z", codeVersion: "test", backend: null, device: null
      })
      for (const w of writes("d")) yield* store.recordStage(w)
      const all = yield* Effect.forEach([0, 1, 2, 3, 4], (r) => Diagnostics.read("d", r))
      const d = all.map((x) => x!)
      assert.deepStrictEqual(d.map((x) => [x.collapse, x.overOptimisation, x.lengthExploitation]), [
        [false, false, false],
        [true, false, false],
        [false, false, true],
        [false, true, false],
        [false, false, false]
      ])
      assert.deepStrictEqual(d.map((x) => x.tieFraction), [null, 0.5, 0.25, 0, 0])
      assert.closeTo(d[1]!.lengthRewardCorr!, -1, 1e-12)
      assert.closeTo(d[2]!.lengthRewardCorr!, pearson([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.5]), 1e-12)
      assert.closeTo(d[2]!.lengthRewardCorr!, 0.98271, 1e-5)
      assert.isNull(d[3]!.lengthRewardCorr) // equal lengths: DuckDB's NaN, which would compare above 0.5, is NULL
      assert.closeTo(d[3]!.rewardChange!, 0.1, 1e-12)
      assert.closeTo(d[3]!.goldChange!, -0.05, 1e-12)
      assert.isNull(yield* Diagnostics.read("d", 9))

      const lines = d.map(Diagnostics.warnings)
      assert.deepStrictEqual(lines.map((l) => l.length), [0, 1, 1, 1, 0])
      assert.match(lines[1]![0]!, /^round 1 · collapse: 2 of 4 candidate pairs \(50%\) dropped as ties \(1 equal rewards, 1 identical samples\)/)
      assert.match(lines[2]![0]!, /^round 2 · length exploitation: length–reward correlation 0\.98 over the round's samples \(> 0\.5\)/)
      assert.match(lines[3]![0]!, /^round 3 · over-optimisation: held-out proxy reward rose \(\+0\.100 this round\) while gold reward fell \(−0\.050\) for 2 rounds running/)
    }).pipe(Effect.provide(RunStore.layer(join(mkdtempSync(join(tmpdir(), "odpo-diag-")), "odpo.duckdb")))))
})
