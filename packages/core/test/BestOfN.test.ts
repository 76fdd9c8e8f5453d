// Best-of-n: the unbiased estimator against brute force over every subset, ties, the analytic KL,
// and a run on the test layers whose rows the standard views read.
import { assert, describe, it } from "@effect/vitest"
import { BestOfN, Checkpoints, Run, RunConfig, RunStore, Sampler, Scorer, Trainer } from "@odpo/core"
import { Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const { bestOfNExpectation, bestOfNKl, bestOfNMetrics, bestOfNSizes, bestOfNWeights } = BestOfN

/** Every n-subset of 0..N−1. */
const subsets = (N: number, n: number): Array<Array<number>> =>
  n === 0 ? [[]] : N < n ? [] : [...subsets(N - 1, n), ...subsets(N - 1, n - 1).map((s) => [...s, N - 1])]

/** Brute force: mean over subsets of the value of the proxy-best, ties picked uniformly. */
const bruteForce = (proxy: ReadonlyArray<number>, value: ReadonlyArray<number>, n: number) => {
  const all = subsets(proxy.length, n)
  return all.reduce((acc, s) => {
    const best = Math.max(...s.map((i) => proxy[i]!))
    const top = s.filter((i) => proxy[i] === best)
    return acc + top.reduce((a, i) => a + value[i]!, 0) / top.length
  }, 0) / all.length
}

describe("best-of-n estimator", () => {
  it("weights: a distribution over ranks; n = 1 uniform, n = N all on the top", () => {
    for (const [N, n] of [[8, 1], [8, 3], [8, 8], [512, 256]] as const) {
      const w = bestOfNWeights(N, n)
      assert.closeTo(w.reduce((a, b) => a + b, 0), 1, 1e-9)
    }
    assert.isTrue(bestOfNWeights(5, 1).every((x) => Math.abs(x - 0.2) < 1e-12))
    assert.deepStrictEqual(bestOfNWeights(4, 4).map((x) => Math.round(x * 1e9) / 1e9), [0, 0, 0, 1])
  })

  it("equals brute force over every subset, ties included", () => {
    const proxy = [0.3, 0.9, 0.1, 0.9, 0.5, 0.3, 0.7]
    const gold = [1, -1, 0.5, 0.2, 0, 0.8, -0.3]
    for (let n = 1; n <= proxy.length; n++) {
      const [p, g] = bestOfNExpectation(proxy.map((x, i) => ({ proxy: x, values: [x, gold[i]!] })), n)
      assert.closeTo(p!, bruteForce(proxy, proxy, n), 1e-12)
      assert.closeTo(g!, bruteForce(proxy, gold, n), 1e-12)
    }
  })

  it("KL log n − (n−1)/n; sizes are powers of 2 up to maxN ≤ N", () => {
    assert.strictEqual(bestOfNKl(1), 0)
    assert.closeTo(bestOfNKl(2), Math.log(2) - 0.5, 1e-15)
    assert.closeTo(bestOfNKl(256), Math.log(256) - 255 / 256, 1e-12)
    assert.deepStrictEqual(bestOfNSizes({ samples: 16, maxN: 8 }), [1, 2, 4, 8])
    assert.throws(() => bestOfNSizes({ samples: 16, maxN: 12 }), /power of 2/)
    assert.throws(() => bestOfNSizes({ samples: 4, maxN: 8 }), /no larger than samples 4/)
  })

  it("metrics average the per-prompt expectations; n = 1 is the plain mean", () => {
    const samples = [
      { promptId: "a", proxy: 1, gold: 0, length: 2 }, { promptId: "a", proxy: 0, gold: 1, length: 4 },
      { promptId: "b", proxy: 3, gold: 1, length: 6 }, { promptId: "b", proxy: 2, gold: 0.5, length: 8 }
    ]
    const one = bestOfNMetrics(samples, 1)
    assert.deepInclude(one, { "bon/n": 1, "objective/kl": 0, "eval/reward": 1.5, "eval/gold_reward": 0.625, "eval/length": 5, "eval/samples": 4 })
    const two = bestOfNMetrics(samples, 2)
    // the proxy-best of both: a → (1, 0, 2), b → (3, 1, 6)
    assert.deepInclude(two, { "eval/reward": 2, "eval/gold_reward": 0.5, "eval/length": 4, "eval/ref_gold_reward": 0.625 })
    assert.notProperty(bestOfNMetrics(samples.map((s) => ({ ...s, gold: null })), 2), "eval/gold_reward")
  })
})

describe("best-of-n run (test layers)", () => {
  it.live("round k holds n = 2^k at KL log n − (n−1)/n; proxy reward never falls with n; it cannot be resumed", () => {
    const db = join(mkdtempSync(join(tmpdir(), "odpo-bon-")), "odpo.duckdb")
    const layers = Layer.mergeAll(RunStore.RunStore.layer(db), Sampler.Sampler.layerTest, Scorer.Scorer.layerTest, Trainer.Trainer.layerTest, Checkpoints.Checkpoints.layerTest)
    return Effect.gen(function*() {
      const config = yield* RunConfig.decodeRunConfig({
        name: "bon-unit", task: { name: "bandit", trainPrompts: 4, heldoutPrompts: 3 },
        policy: { model: { contextLength: 11, dModel: 16, nLayers: 1, nHeads: 2 } }, sampling: { promptsPerRound: 4, maxNewTokens: 9 }, eval: { prompts: 3 }
      })
      const runId = yield* BestOfN.runBestOfN(config, { checkpointRoot: join(db, "..", "ckpt") }, { samples: 16, maxN: 8 })
      const store = yield* RunStore.RunStore
      const run = yield* store.getRun(runId)
      assert.deepStrictEqual([run.status, run.loss, run.pairSource], ["finished", "bon", "bon"])
      const rows = (yield* store.query(`SELECT v.round, v.kl, v.reward, v.gold_reward, e.metrics->>'$."bon/n"' FROM reward_vs_kl v JOIN evals e USING (run_id, round) WHERE run_id = '${runId}' ORDER BY v.round`)).rows
      assert.deepStrictEqual(rows.map((r) => [r[0], Number(r[4])]), [[0, 1], [1, 2], [2, 4], [3, 8]])
      rows.forEach((r) => assert.closeTo(r[1] as number, bestOfNKl(Number(r[4])), 1e-12))
      for (let k = 1; k < rows.length; k++) assert.isAtLeast(rows[k]![2] as number, (rows[k - 1]![2] as number) - 1e-12)
      // every sample is stored once, with its score: 3 prompts × 16
      assert.deepStrictEqual((yield* store.query(`SELECT count(*), count(DISTINCT s.rollout_id) FROM rollouts r JOIN scores s USING (rollout_id) WHERE run_id = '${runId}'`)).rows, [[48, 48]])
      const resumed = yield* Effect.flip(Run.runToCompletion(runId))
      assert.include(resumed.message, "is a bon run, not a round loop")
    }).pipe(Effect.provide(layers))
  })
})
