// The RL arm end to end on a tiny bandit (real tfjs model, sampler, scorer, DuckDB): a 2-round RLOO run
// with the lineage checks of RoundLoop.test.ts, its advantages and step membership; PPO-clip with the KL in the loss.
import { assert, describe, it } from "@effect/vitest"
import { Run, RunConfig, RunStore } from "@odpo/core"
import { Effect } from "effect"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { checkpointRootFor, experimentLayer } from "../src/Services.ts"
import { checkLineage } from "./Lineage.ts"
import { dumpRun, policyGradientTables } from "./Tables.ts"

const tinyConfig = () => RunConfig.parseRunConfig(readFileSync(join(import.meta.dirname, "fixtures/tiny-bandit-rloo.json"), "utf8"))
const tempDb = () => join(mkdtempSync(join(tmpdir(), "odpo-rl-e2e-")), "odpo.duckdb")

describe("policy-gradient round loop, end to end on a tiny bandit", () => {
  it.live("a 2-round RLOO run: every table has its rows and its lineage; advantages and step_samples tie steps to rollouts", () => {
    const db = tempDb()
    return Effect.gen(function*() {
      const runId = yield* Run.createRun(yield* tinyConfig(), { checkpointRoot: checkpointRootFor(db) })
      yield* Run.runToCompletion(runId)
      const store = yield* RunStore.RunStore
      const t = yield* dumpRun(runId, policyGradientTables)
      const q = (sql: string) => Effect.map(store.query(sql), (r) => r.rows)
      for (const table of policyGradientTables) assert.isAbove(t[table]!.length, 0, table)
      assert.deepStrictEqual(yield* q(`SELECT (SELECT count(*) FROM pairs WHERE run_id = '${runId}'), (SELECT count(*) FROM pair_filters WHERE run_id = '${runId}')`), [[0, 0]])

      assert.strictEqual((yield* store.getRun(runId)).status, "finished")
      assert.strictEqual(t.runs![0]!.loss, "rloo")
      // The README cookbook's RL examples run as written (under experiments/rlhf-vs-dpo's run name) and find rows.
      yield* store.query(`UPDATE runs SET name = 'bandit-rloo' WHERE run_id = '${runId}'`, { write: true })
      const readme = readFileSync(join(import.meta.dirname, "../../../README.md"), "utf8")
      const cookbook = readme.slice(readme.indexOf("## SQL cookbook")).split("```sql")[1]!.split("```")[0]!
      const rl = cookbook.split(";").map((s) => s.trim()).filter((s) => s.startsWith("-- RL:"))
      assert.strictEqual(rl.length, 2)
      for (const sql of rl) assert.isAbove((yield* store.query(sql)).rows.length, 0, sql)
      // the lineage RoundLoop.test.ts checks for DPO: 2 rounds, 4 prompts × 4 samples, 4 held-out × 2 samples
      checkLineage(t, { rounds: 2, prompts: 8 + 4, train: 4 * 4, eval: 4 * 2 })
      assert.deepStrictEqual(
        yield* q(`SELECT round, list(stage ORDER BY stage) FROM stage_times WHERE run_id = '${runId}' GROUP BY round ORDER BY round`),
        [[0, ["eval", "started"]], [1, ["advantages", "eval", "rollouts", "scores", "started", "train"]], [2, ["advantages", "eval", "rollouts", "scores", "started", "train"]]]
      )

      // advantages: one per train rollout of its round and prompt, with the rollout's own score; KL = log π_old − log π_ref summed
      assert.deepStrictEqual(
        yield* q(`SELECT count(*) FROM advantages a JOIN rollouts r ON r.rollout_id = a.rollout_id AND r.run_id = a.run_id AND r.round = a.round
          AND r.prompt_id = a.prompt_id AND r.purpose = 'train' JOIN scores s ON s.rollout_id = a.rollout_id AND s.reward = a.reward WHERE a.run_id = '${runId}'`),
        [[32]]
      )
      // round 1 samples from π₀ = π_ref: its KL is 0 up to float32 rounding of the recorded log-probs
      for (const a of t.advantages!.filter((x) => x.round === 1)) assert.closeTo(a.kl as number, 0, 1e-4)
      assert.isAbove(Math.max(...t.advantages!.filter((x) => x.round === 2).map((a) => Math.abs(a.kl as number))), 0.01)
      for (const a of t.advantages!) {
        assert.closeTo(a.rlhf_reward as number, (a.reward as number) - 0.1 * (a.kl as number), 1e-9)
        assert.closeTo(a.advantage as number, (a.rlhf_reward as number) - (a.baseline as number), 1e-9)
      }
      for (const [sum] of yield* q(`SELECT sum(advantage) FROM advantages WHERE run_id = '${runId}' GROUP BY round, prompt_id`)) {
        assert.closeTo(sum as number, 0, 1e-9)
      }
      // 2 epochs × 16 samples / 4 per step = 8 steps a round; every sample in one step of each epoch
      for (const r of [1, 2]) {
        assert.strictEqual(t.train_steps!.filter((s) => s.round === r).length, 8)
        assert.strictEqual(t.step_samples!.filter((s) => s.round === r).length, 32)
      }
      assert.deepStrictEqual(yield* q(`SELECT DISTINCT epoch, count(*) FROM samples_used WHERE run_id = '${runId}' GROUP BY round, rollout_id, epoch ORDER BY epoch`), [[0, 1], [1, 1]])
      assert.deepStrictEqual(yield* q(`SELECT count(*) FROM step_samples u ANTI JOIN train_steps s USING (run_id, round, step) WHERE u.run_id = '${runId}'`), [[0]])
      assert.deepStrictEqual(
        yield* q(`SELECT count(*) FROM samples_used u JOIN rollouts r USING (rollout_id) WHERE u.run_id = '${runId}' AND r.round = u.round AND u.completion = r.text AND u.advantage IS NOT NULL`),
        [[64]]
      )
      // TRL-named step metrics, as columns of policy_gradient_steps
      const steps = yield* q(`SELECT round, step, rlhf_reward, kl, clipfrac, approxkl, ratio, entropy FROM policy_gradient_steps WHERE run_id = '${runId}' ORDER BY round, step`)
      assert.strictEqual(steps.length, 16)
      for (const row of steps) for (const v of row) assert.isTrue(Number.isFinite(v), String(row))
      // the first step of a round trains the policy that sampled: the trainer's log-probs equal the sampler's recorded ones
      for (const row of steps.filter((s) => s[1] === 0)) {
        assert.closeTo(row[6] as number, 1, 1e-4)
        assert.isAtMost(row[5] as number, 1e-8)
      }
      assert.strictEqual(steps.reduce((a, s) => a + (s[4] as number), 0), 0) // RLOO never clips
      assert.deepStrictEqual(t.evals!.map((e) => e.round), [0, 1, 2])
      assert.closeTo(t.evals![0]!.kl as number, 0, 1e-6)
      assert.isAbove(t.evals![2]!.kl as number, 0)
    }).pipe(Effect.provide(experimentLayer(db)))
  })

  it.live("PPO-clip with the KL in the loss: clipping happens after the first epoch, never at its first step", () => {
    const db = tempDb()
    return Effect.gen(function*() {
      const c = yield* tinyConfig()
      const config: RunConfig.RunConfig = { ...c, name: "tiny-ppo", rounds: 1, loss: { ...c.loss, type: "ppo_clip", klMode: "loss", ppoClipEpsilon: 0.1 } }
      const runId = yield* Run.createRun(config, { checkpointRoot: checkpointRootFor(db) })
      yield* Run.runToCompletion(runId)
      const store = yield* RunStore.RunStore
      const steps = (yield* store.query(`SELECT step, epoch, clipfrac, ratio, loss FROM policy_gradient_steps WHERE run_id = '${runId}' ORDER BY step`)).rows
      assert.strictEqual(steps.length, 8)
      assert.deepStrictEqual(steps.slice(0, 1).map((s) => [s[0], s[1], s[2]]), [[0, 0, 0]])
      assert.closeTo(steps[0]![3] as number, 1, 1e-4)
      assert.isAbove(Math.max(...steps.filter((s) => s[1] === 1).map((s) => s[2] as number)), 0)
      // klMode loss: the advantage is the raw reward against its baseline; rlhf_reward still takes β·KL off
      const a = (yield* store.query(`SELECT reward, baseline, advantage FROM advantages WHERE run_id = '${runId}'`)).rows
      for (const [reward, baseline, advantage] of a) assert.closeTo(advantage as number, (reward as number) - (baseline as number), 1e-12)
    }).pipe(Effect.provide(experimentLayer(db)))
  })
})
