// The four arms of each task decode, and differ only in the objective: the same prompts, samples, rounds, model and evaluation, and the same gradient steps per round.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { ConfigFile, RunConfig } from "@odpo/core"
import { join } from "node:path"

const load = (file: string) => ConfigFile.readRunConfigFile(join(import.meta.dirname, file))

/** Optimizer steps per round: E passes over the round's items (a pair per prompt for max_min DPO, every sample for RL). */
const stepsPerRound = (c: RunConfig.RunConfig) => {
  const items = c.sampling.promptsPerRound * (RunConfig.isPolicyGradient(c.loss.type) ? c.sampling.samplesPerPrompt : 1)
  return c.training.epochs * Math.ceil(items / c.training.batchSize)
}

describe("rlhf-vs-dpo arms", () => {
  for (const [task, steps] of [["bandit", 4], ["sentiment", 2]] as const) {
    it.effect(`${task}: online DPO, offline DPO, RLOO and PPO-clip at one sample and step budget`, () =>
      Effect.gen(function*() {
        const arms = yield* Effect.all(["online-dpo", "offline-dpo", "rloo", "ppo"].map((arm) => load(`${task}-${arm}.json`)))
        assert.deepStrictEqual(arms.map((c) => c.loss.type), ["sigmoid", "sigmoid", "rloo", "ppo_clip"])
        assert.deepStrictEqual(arms.map((c) => c.pairSource), ["online", "offline", "online", "online"])
        const shared = (c: RunConfig.RunConfig) => ({
          rounds: c.rounds, task: c.task, policy: c.policy, sampling: c.sampling, reward: c.reward, reference: c.reference,
          eval: c.eval, learningRate: c.training.learningRate, seed: c.seed
        })
        for (const c of arms.slice(1)) assert.deepStrictEqual(shared(c), shared(arms[0]!), c.name)
        assert.deepStrictEqual(arms.map(stepsPerRound), [steps, steps, steps, steps])
        if (task === "bandit") assert.strictEqual(arms[0]!.task.mu, 70)
        // β per family (README): DPO's 0.1; RL's KL coefficient small enough on the bandit for RL to leave π₀ at all
        assert.deepStrictEqual(arms.map((c) => c.loss.beta), task === "bandit" ? [0.1, 0.1, 0.001, 0.001] : [0.1, 0.1, 0.1, 0.1])
        for (const c of arms) assert.strictEqual(c.sampling.temperature, 1) // RL on-policy: no temperature warning
      }))
  }
})
