/**
 * RLOO and PPO-clip as objectives: every sample of the round with its advantage (made by the round
 * loop, core Advantages.ts), π_old's per-token log-probs (the rollout's, recorded when sampled) and
 * π_ref's (computed once when the items are made). The loss reads the policy's per-token log-probs
 * from the engine, so it runs on any engine (losses/PolicyGradient.ts).
 */
import type { Domain, RunConfig } from "@odpo/core"
import { Errors } from "@odpo/core"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { type PolicyGradientLossFn, policyGradientMetrics, type TokenLogps } from "../losses/index.ts"
import { checkSequences } from "../TrainingChecks.ts"
import type { RoundObjective } from "./Objective.ts"

export interface PolicyGradientItem {
  readonly sample: Domain.TrainingSample
  /** log π_ref of each completion token. */
  readonly refTokenLogps: ReadonlyArray<number>
}

const invalid = (message: string) => Effect.fail(new Errors.InvalidInput({ message }))

/** Samples are non-empty, fit the model, and carry one finite π_old log-prob per completion token and a finite advantage. */
const checkSamples = (samples: ReadonlyArray<Domain.TrainingSample>, env: { contextLength: number; vocabSize: number }, loss: string) =>
  Effect.gen(function*() {
    if (samples.length === 0) {
      return yield* invalid(`request.samples is empty: loss.type "${loss}" trains on the round's samples with their advantages`)
    }
    yield* checkSequences(samples.map((s) => s.sequence), env, (i) => `samples[${i}].sequence`)
    const bad = samples.findIndex((s) =>
      s.oldTokenLogprobs.length !== s.sequence.completionTokenIds.length || !s.oldTokenLogprobs.every(Number.isFinite) ||
      !Number.isFinite(s.advantage)
    )
    if (bad >= 0) {
      const s = samples[bad]!
      return yield* invalid(
        `samples[${bad}]: needs one finite π_old log-prob per completion token (got ${s.oldTokenLogprobs.length} for ` +
          `${s.sequence.completionTokenIds.length} tokens) and a finite advantage (got ${s.advantage}); take them from the rollout and the advantages stage`
      )
    }
  })

/**
 * Per-item values laid out as the engine lays out `tokens` ([N, T−1], position t predicts token
 * t + 1): completion token k of an item with P prompt tokens sits at P − 1 + k; elsewhere 0.
 */
const alongTokens = (items: ReadonlyArray<PolicyGradientItem>, T1: number, values: (item: PolicyGradientItem) => ReadonlyArray<number>) => {
  const out = new Float32Array(items.length * T1)
  items.forEach((item, b) => {
    const start = b * T1 + item.sample.sequence.promptTokenIds.length - 1
    values(item).forEach((v, k) => (out[start + k] = v))
  })
  return tf.tensor2d(out, [items.length, T1])
}

export const policyGradient = (lossFn: PolicyGradientLossFn) => (config: RunConfig.LossConfig): RoundObjective<PolicyGradientItem> => ({
  items: ({ samples }, env) =>
    Effect.gen(function*() {
      yield* checkSamples(samples, env, config.type)
      const ref = yield* env.referenceTokenLogps(samples.map((s) => s.sequence))
      return samples.map((sample, i): PolicyGradientItem => ({ sample, refTokenLogps: ref[i]! }))
    }),
  sequences: (items) => items.map((item) => item.sample.sequence),
  lossSum: (items, logps, metrics) => {
    const N = items.length
    const T1 = logps.tokens.shape[1]
    const x: TokenLogps = {
      policy: logps.tokens,
      old: alongTokens(items, T1, (item) => item.sample.oldTokenLogprobs),
      ref: alongTokens(items, T1, (item) => item.refTokenLogps),
      mask: logps.mask,
      advantages: tf.tensor1d(items.map((item) => item.sample.advantage))
    }
    const out = lossFn(x, config)
    const tokens = items.reduce((a, item) => a + item.sample.sequence.completionTokenIds.length, 0)
    metrics.add("loss", tf.sum(out.losses), N)
    metrics.add("objective/rlhf_reward", items.reduce((a, item) => a + item.sample.rlhfReward, 0), N)
    for (const [name, m] of Object.entries(policyGradientMetrics(x, out))) metrics.add(name, m.sum, m.per === "token" ? tokens : N)
    return tf.sum(out.losses) as tf.Scalar
  }
})
