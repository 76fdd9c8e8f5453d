// The studies' mechanisms on real tiny runs (tfjs cpu, real DuckDB): the order task's exact
// probabilities, label noise recorded per pair, and `odpo bon` as a process.
import { assert, describe, it } from "@effect/vitest"
import { Run, RunConfig, RunStore } from "@odpo/core"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { checkpointRootFor, experimentLayer } from "../src/Services.ts"
import { odpo } from "./CliProcess.ts"

const tempDb = () => join(mkdtempSync(join(tmpdir(), "odpo-studies-")), "odpo.duckdb")
const rows = (sql: string) => Effect.map(Effect.flatMap(RunStore.RunStore, (s) => s.query(sql)), (r) => r.rows)
const metric = (name: string) => `(metrics->>'$."${name}"')::DOUBLE`

const order = RunConfig.decodeRunConfig({
  name: "order-tiny", seed: 1, rounds: 2, pairSource: "offline",
  task: { name: "order", trainPrompts: 16, heldoutPrompts: 2 },
  policy: { model: { contextLength: 2, dModel: 16, nLayers: 1, nHeads: 2 }, sft: { steps: 60, batchSize: 64, learningRate: 0.01 } },
  sampling: { promptsPerRound: 8, samplesPerPrompt: 4, maxNewTokens: 1 },
  pairing: { strategy: "all_pairs" },
  loss: { type: "sigmoid", beta: 0.1 },
  training: { epochs: 4, batchSize: 8, learningRate: 0.01 },
  eval: { prompts: 2, samplesPerPrompt: 8 }
})

describe("studies on real tiny runs", () => {
  it.live("order: eval/p_* are the policy's exact action probabilities, and DPO drives π(a) up", () => {
    const db = tempDb()
    return Effect.gen(function*() {
      const runId = yield* Run.createRun(yield* order, { checkpointRoot: checkpointRootFor(db) })
      yield* Run.runToCompletion(runId)
      const p = yield* rows(`SELECT round, ${metric("eval/p_best")}, ${metric("eval/p_middle")}, ${metric("eval/p_worst")} FROM evals WHERE run_id = '${runId}' ORDER BY round`)
      assert.strictEqual(p.length, 3)
      const [a0, b0, c0] = p[0]!.slice(1) as Array<number>
      // π₀ after SFT on uniform demonstrations: nearly all mass on the actions, none far from ⅓
      assert.isAbove(a0 + b0 + c0, 0.95)
      for (const x of [a0, b0, c0]) assert.closeTo(x, 1 / 3, 0.12)
      // DPO on deterministic preferences a ≻ b ≻ c: π(a) rises, π(c) falls
      const [a2, , c2] = p[2]!.slice(1) as Array<number>
      assert.isAbove(a2, a0 + 0.3)
      assert.isBelow(c2, c0)
      // exact: each round's held-out samples of "a" carry log π_r(a) as their token log-prob
      const sampled = yield* rows(`SELECT round, avg(exp(token_logprobs[1])), count(*) FROM rollouts
        WHERE run_id = '${runId}' AND purpose = 'eval' AND text = 'a' GROUP BY round ORDER BY round`)
      for (const [round, pa] of sampled) assert.closeTo(pa as number, p[round as number]![1] as number, 1e-5)
      assert.isAbove(sampled.length, 0)
    }).pipe(Effect.provide(experimentLayer(db)))
  })

  it.live("label noise: every flipped pair is recorded, counted, and has its lower-reward sample chosen", () => {
    const db = tempDb()
    return Effect.gen(function*() {
      const config = yield* RunConfig.decodeRunConfig({
        name: "noise-tiny", seed: 2, rounds: 1,
        task: { name: "bandit", trainPrompts: 16, heldoutPrompts: 2 },
        policy: { model: { contextLength: 11, dModel: 16, nLayers: 1, nHeads: 2 }, sft: { steps: 10, batchSize: 16, learningRate: 0.01 } },
        sampling: { promptsPerRound: 16, samplesPerPrompt: 4, maxNewTokens: 9 },
        pairing: { strategy: "all_pairs", flipRate: 0.3 },
        training: { epochs: 1, batchSize: 16 },
        eval: { prompts: 2, samplesPerPrompt: 1 }
      })
      const runId = yield* Run.createRun(config, { checkpointRoot: checkpointRootFor(db) })
      yield* Run.runToCompletion(runId)
      const [[pairs, flipped, consistent, counted]] = (yield* rows(`SELECT count(*), count(*) FILTER (WHERE p.flipped),
          count(*) FILTER (WHERE p.flipped = (sc.reward < sr.reward)),
          (SELECT "count" FROM pair_filters f WHERE f.run_id = p.run_id AND f.filter = 'flipped')
        FROM pairs p JOIN scores sc ON sc.rollout_id = p.chosen_id JOIN scores sr ON sr.rollout_id = p.rejected_id
        WHERE p.run_id = '${runId}' GROUP BY p.run_id`)) as Array<Array<number>>
      assert.isAtLeast(pairs!, 40) // up to 6 per prompt × 16, ties and duplicates dropped
      assert.strictEqual(flipped, counted)
      assert.closeTo(flipped! / pairs!, 0.3, 0.15)
      // flipped ⇔ the chosen scored below the rejected (all_pairs with ties dropped: no equal rewards)
      assert.strictEqual(consistent, pairs)
    }).pipe(Effect.provide(experimentLayer(db)))
  })

  it("odpo bon: a best-of-n run whose proxy reward rises with n at the analytic KL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-bon-"))
    const db = join(dir, "odpo.duckdb")
    const config = join(dir, "bandit.json")
    writeFileSync(config, JSON.stringify({
      name: "bon-tiny", seed: 4, task: { name: "bandit", mu: 20, trainPrompts: 8, heldoutPrompts: 3 },
      policy: { model: { contextLength: 11, dModel: 16, nLayers: 1, nHeads: 2 }, sft: { steps: 10, batchSize: 16, learningRate: 0.01 } },
      sampling: { promptsPerRound: 8, maxNewTokens: 9 }, eval: { prompts: 3 }
    }))
    const r = await odpo(["bon", config, "--db", db, "--samples", "16", "--backend", "cpu"])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.include(r.stdout, "best-of-n run bon-tiny-bon-")
    const q = await odpo(["query", "--db", db, "--format", "json",
      `SELECT round, kl, reward, (metrics->>'$."bon/n"')::INT AS n FROM evals ORDER BY round`])
    const points = JSON.parse(q.stdout) as Array<{ round: number; kl: number; reward: number; n: number }>
    assert.deepStrictEqual(points.map((p) => p.n), [1, 2, 4, 8])
    for (const p of points) assert.closeTo(p.kl, Math.log(p.n) - (p.n - 1) / p.n, 1e-9)
    for (let k = 1; k < points.length; k++) assert.isAbove(points[k]!.reward, points[k - 1]!.reward)
    const resumed = await odpo(["resume", "bon-tiny-bon", "--db", db])
    assert.strictEqual(resumed.code, 1)
    assert.include(resumed.stderr, "is a bon run, not a round loop")
  })
})
