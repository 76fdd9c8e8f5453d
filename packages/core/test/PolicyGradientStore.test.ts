// The "policy gradient" migration: advantages and step_samples round-trip, and samples_used / policy_gradient_steps join them to texts and metrics.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type AdvantageRow, type RolloutWrite, RunStore, type StepSampleRow } from "../src/RunStore.ts"

const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 8, stop: [] }

/** Prompt p with K = 2 completions; their rewards are the hand-worked RLOO numbers below. */
const rollout = (promptId: string, sampleIdx: number, tokenIds: Array<number>): RolloutWrite => ({
  rolloutId: `run/1/train/${promptId}/${sampleIdx}`, runId: "run", round: 1, purpose: "train", promptId, sampleIdx,
  policyCkpt: "ck0", tokenIds, text: tokenIds.map((t) => String.fromCharCode(96 + t)).join(""),
  tokenLogprobs: tokenIds.map(() => -1), logprobSum: -tokenIds.length, length: tokenIds.length,
  finishReason: "length", params, seed: sampleIdx
})

describe("policy-gradient tables", () => {
  it.effect("advantages and step_samples round-trip; samples_used puts each advantage next to its text, once per step", () =>
    Effect.gen(function*() {
      const store = yield* RunStore
      const rollouts = [rollout("p", 0, [1, 2]), rollout("p", 1, [3]), rollout("q", 0, [4, 4, 4]), rollout("q", 1, [5])]
      // K = 2: A_i = r_i − r_other (β = 0.1, klMode reward: the KL is taken off first)
      const raw = [[1, 0.5], [0, 0], [0.25, 0], [0.75, 1]] as const
      const rlhf = raw.map(([r, kl]) => r - 0.1 * kl)
      const advantages: Array<AdvantageRow> = rollouts.map((r, i) => {
        const other = i ^ 1
        return {
          rolloutId: r.rolloutId, runId: "run", round: 1, promptId: r.promptId, reward: raw[i]![0], kl: raw[i]![1],
          rlhfReward: rlhf[i]!, baseline: rlhf[other]!, advantage: rlhf[i]! - rlhf[other]!
        }
      })
      // 2 epochs of 2 steps, 2 samples each: every rollout feeds two steps
      const plan = [[0, 3], [1, 2], [2, 0], [3, 1]]
      const stepSamples: Array<StepSampleRow> = plan.flatMap((ids, step) => ids.map((i) => ({ runId: "run", round: 1, step, rolloutId: rollouts[i]!.rolloutId })))
      const metrics = (step: number) => ({
        loss: 0.5 - step / 10, "objective/rlhf_reward": 0.46, "objective/kl": 0.375, "policy/clipfrac": step / 8,
        "policy/approxkl": 0.001 * step, "val/ratio": 1 + step / 100, "policy/entropy": 1.5, grad_norm: 0.3, learning_rate: 1e-3
      })
      yield* store.recordStage({
        runId: "run", round: 1, stage: "rollouts", rollouts,
        prompts: ["p", "q"].map((promptId) => ({ promptId, task: "bandit", split: "train", text: `prompt ${promptId}`, tokenIds: [0] }))
      })
      yield* store.recordStage({ runId: "run", round: 1, stage: "pairs", advantages })
      const train = {
        runId: "run", round: 1, stage: "train" as const, stepSamples,
        trainSteps: plan.map((_, step) => ({ runId: "run", round: 1, step, epoch: step < 2 ? 0 : 1, metrics: metrics(step) }))
      }
      yield* store.recordStage(train)
      yield* store.recordStage(train) // a resumed stage writes nothing twice

      const back = yield* store.readAdvantages("run", 1)
      assert.deepStrictEqual(back, advantages)
      // p: r − β·KL = (1 − 0.05, 0) → A = ±0.95; q: (0.25, 0.75 − 0.1) → A = ∓0.4
      ;[0.95, -0.95, -0.4, 0.4].forEach((a, i) => assert.closeTo(back[i]!.advantage, a, 1e-12))

      const used = yield* store.query("SELECT step, epoch, rollout_id, prompt, completion, advantage FROM samples_used WHERE run_id = 'run'")
      assert.strictEqual(used.rows.length, 8)
      assert.deepStrictEqual(used.rows[0], [0, 0, "run/1/train/p/0", "prompt p", "ab", back[0]!.advantage])
      assert.deepStrictEqual(used.rows.map((r) => r[0]), [0, 0, 1, 1, 2, 2, 3, 3])
      assert.deepStrictEqual(used.rows.map((r) => r[1]), [0, 0, 0, 0, 1, 1, 1, 1])
      const perRollout = yield* store.query("SELECT rollout_id, count(*) FROM samples_used GROUP BY ALL ORDER BY rollout_id")
      assert.deepStrictEqual(perRollout.rows.map((r) => r[1]), [2, 2, 2, 2])
      // the advantages of a prompt sum to 0
      const sums = yield* store.query("SELECT prompt_id, sum(advantage) FROM advantages GROUP BY ALL ORDER BY prompt_id")
      for (const row of sums.rows) assert.closeTo(row[1] as number, 0, 1e-12)

      const steps = yield* store.query("SELECT step, loss, rlhf_reward, kl, clipfrac, approxkl, ratio, entropy FROM policy_gradient_steps")
      assert.deepStrictEqual(steps.rows[3], [3, 0.2, 0.46, 0.375, 0.375, 0.003, 1.03, 1.5])
      assert.strictEqual(steps.rows.length, 4)
    }).pipe(Effect.provide(RunStore.layer(join(mkdtempSync(join(tmpdir(), "odpo-pg-")), "odpo.duckdb")))))

  it.effect("a preference run's train steps do not show up as policy-gradient steps", () =>
    Effect.gen(function*() {
      const store = yield* RunStore
      yield* store.recordStage({
        runId: "dpo", round: 1, stage: "train",
        trainSteps: [{ runId: "dpo", round: 1, step: 0, epoch: 0, metrics: { loss: 0.69, "rewards/margins": 0 } }]
      })
      assert.strictEqual((yield* store.query("SELECT count(*) FROM train_steps")).rows[0]![0], 1)
      assert.strictEqual((yield* store.query("SELECT count(*) FROM policy_gradient_steps")).rows[0]![0], 0)
      assert.lengthOf(yield* store.readAdvantages("dpo", 1), 0)
    }).pipe(Effect.provide(RunStore.layer(join(mkdtempSync(join(tmpdir(), "odpo-pg-")), "odpo.duckdb")))))
})
