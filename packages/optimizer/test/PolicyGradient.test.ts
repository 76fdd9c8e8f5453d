// RLOO and PPO-clip against PyTorch (fixtures/policy_gradient_reference.py), plus the acceptance checks by hand.
import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Advantages, type RunConfig } from "@odpo/core"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { close as closeTo } from "./Close.ts"
import {
  type MetricSum,
  type PolicyGradientLoss,
  policyGradientLosses,
  policyGradientMetrics,
  type TokenLogps
} from "../src/losses/index.ts"

interface Case {
  loss: RunConfig.PolicyGradientName
  when: string
  config: Pick<RunConfig.LossConfig, "beta" | "klMode" | "ppoClipEpsilon">
  inputs: { groups: string[]; rewards: number[]; lengths: number[]; old: number[][]; ref: number[][]; policy: number[][] }
  kl: number[]
  rlhfReward: number[]
  baseline: number[]
  advantages: number[]
  losses: number[]
  mean: number
  grads: { policy: number[][]; ref: number[][] }
  metrics: Record<string, number>
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures/policy_gradient_reference.json"), "utf8")) as { cases: Case[] }

const lossConfig = (c: Case["config"]): RunConfig.LossConfig => ({
  type: "rloo", labelSmoothing: 0, simpoGamma: 1, rdpoAlpha: 0, ktoLambdaD: 1, ktoLambdaU: 1, sftWeight: 0, ...c
})


/** Token-level sums over 23 tokens in float32: a looser absolute floor than the per-pair losses need. */
const close = (actual: ArrayLike<number>, expected: ReadonlyArray<number>, what: string) => closeTo(actual, expected, what, 1e-6)

const maskOf = (lengths: ReadonlyArray<number>, T: number) => tf.tensor2d(lengths.map((n) => Array.from({ length: T }, (_, t) => (t < n ? 1 : 0))))

/** The case's batch as tensors (policy given separately: it is what gradients are taken of). */
const batch = (c: Case, policy: tf.Tensor, ref: tf.Tensor, advantages: ReadonlyArray<number>): TokenLogps => ({
  policy: policy as tf.Tensor2D,
  old: tf.tensor2d(c.inputs.old),
  ref: ref as tf.Tensor2D,
  mask: maskOf(c.inputs.lengths, c.inputs.old[0]!.length),
  advantages: tf.tensor1d([...advantages])
})

const advantagesOf = (c: Case) =>
  Advantages.leaveOneOut(c.inputs.groups.map((group, i) => ({ group, reward: c.inputs.rewards[i]!, kl: c.kl[i]! })), c.config)

/** Mean loss and its gradients with respect to the policy's and the reference's token log-probs. */
const lossAndGrads = (c: Case, name: RunConfig.PolicyGradientName, policy: ReadonlyArray<ReadonlyArray<number>>, advantages: ReadonlyArray<number>) =>
  tf.tidy(() => {
    const f = (p: tf.Tensor, r: tf.Tensor) => {
      const loss = tf.mean(policyGradientLosses[name](batch(c, p, r, advantages), lossConfig(c.config)).losses)
      // tf.grads refuses an input the loss ignores (ref in klMode "reward"): 0·Σ makes its gradient 0
      return tf.add(loss, tf.mul(0, tf.add(tf.sum(p), tf.sum(r)))) as tf.Scalar
    }
    const { value, grads } = tf.valueAndGrads(f)([tf.tensor2d(policy.map((r) => [...r])), tf.tensor2d(c.inputs.ref)])
    return { mean: value.dataSync()[0]!, policy: grads[0]!.arraySync() as number[][], ref: grads[1]!.arraySync() as number[][] }
  })

describe("leave-one-out advantages", () => {
  it("on the hand-worked K = 4 batch: A = r − mean of the other three", () => {
    // prompt a: r = (1, ½, 0, ½) → baselines (⅓, ½, ⅔, ½) → A = (⅔, 0, −⅔, 0)
    // prompt b: r = (0.2, 0.8, 0.8, 0.2) → baselines (0.6, 0.4, 0.4, 0.6) → A = (−0.4, 0.4, 0.4, −0.4)
    const c = fixture.cases[0]!
    const samples = c.inputs.groups.map((group, i) => ({ group, reward: c.inputs.rewards[i]!, kl: c.kl[i]! }))
    const byLoss = Advantages.leaveOneOut(samples, { beta: 0.1, klMode: "loss" })
    close(byLoss.map((a) => a.advantage), [2 / 3, 0, -2 / 3, 0, -0.4, 0.4, 0.4, -0.4], "A (klMode loss)")
    close(byLoss.map((a) => a.baseline), [1 / 3, 0.5, 2 / 3, 0.5, 0.6, 0.4, 0.4, 0.6], "baseline (klMode loss)")
    // klMode reward: the KL penalty enters the reward first. Sample a0: KL = Σ(old − ref) = 0.25 + 0 + 0.25 − 0.5 = 0
    assert.closeTo(c.kl[0]!, 0, 1e-12)
    const byReward = Advantages.leaveOneOut(samples, { beta: 0.1, klMode: "reward" })
    const rlhf = samples.map((s) => s.reward - 0.1 * s.kl)
    assert.closeTo(byReward[0]!.advantage, rlhf[0]! - (rlhf[1]! + rlhf[2]! + rlhf[3]!) / 3, 1e-12)
    // rlhf_reward is r − β·KL in both modes (the comparable objective)
    close(byLoss.map((a) => a.rlhfReward), rlhf, "rlhf_reward")
    // each prompt's advantages sum to 0
    for (const g of [0, 4]) assert.closeTo(byReward.slice(g, g + 4).reduce((a, x) => a + x.advantage, 0), 0, 1e-12)
  })

  it("refuses a prompt with one sample: no baseline without another sample", () => {
    assert.throws(
      () => Advantages.leaveOneOut([{ group: "p", reward: 1, kl: 0 }, { group: "q", reward: 0, kl: 0 }, { group: "q", reward: 1, kl: 0 }], { beta: 0.1, klMode: "reward" }),
      /prompt p has 1 sample.*samplesPerPrompt ≥ 2/
    )
  })
})

describe("policy-gradient losses vs PyTorch", () => {
  assert.isAtLeast(fixture.cases.length, 7)
  for (const c of fixture.cases) {
    it(`${c.loss} klMode=${c.config.klMode} β=${c.config.beta} ε=${c.config.ppoClipEpsilon} at the ${c.when}`, () => {
      const before = tf.memory().numTensors
      const adv = advantagesOf(c)
      close(adv.map((a) => a.advantage), c.advantages, "advantages")
      close(adv.map((a) => a.baseline), c.baseline, "baselines")
      close(adv.map((a) => a.rlhfReward), c.rlhfReward, "rlhf rewards")
      const advantages = adv.map((a) => a.advantage)
      const g = lossAndGrads(c, c.loss, c.inputs.policy, advantages)
      close([g.mean], [c.mean], "mean loss")
      close(g.policy.flat(), c.grads.policy.flat(), "∂/∂ log π")
      close(g.ref.flat(), c.grads.ref.flat(), "∂/∂ log π_ref")
      const metrics: Record<string, { sum: number; per: MetricSum["per"] }> = {}
      tf.tidy(() => {
        const x = batch(c, tf.tensor2d(c.inputs.policy), tf.tensor2d(c.inputs.ref), advantages)
        const out: PolicyGradientLoss = policyGradientLosses[c.loss](x, lossConfig(c.config))
        close(out.losses.dataSync(), c.losses, "per-completion losses")
        for (const [name, m] of Object.entries(policyGradientMetrics(x, out))) metrics[name] = { sum: m.sum.dataSync()[0]!, per: m.per }
      })
      // 8 completions, 23 completion tokens
      for (const name of ["objective/kl", "policy/clipfrac", "policy/approxkl", "val/ratio", "policy/entropy"]) {
        close([metrics[name]!.sum / (metrics[name]!.per === "completion" ? 8 : 23)], [c.metrics[name]!], name)
      }
      assert.strictEqual(metrics["objective/kl"]!.per, "completion")
      assert.strictEqual(metrics["val/ratio"]!.per, "token")
      assert.strictEqual(tf.memory().numTensors, before, "no tensor leaks")
    })
  }
})

describe("PPO-clip", () => {
  const first = fixture.cases.find((c) => c.loss === "rloo" && c.config.klMode === "reward" && c.config.beta === 0.1)!
  const later = fixture.cases.find((c) => c.loss === "ppo_clip" && c.when === "later epoch" && c.config.klMode === "reward" && c.config.ppoClipEpsilon === 0.2)!

  it("at ratio 1 (first epoch) has RLOO's gradient, −A·m/B per token, in both KL modes", () => {
    for (const klMode of ["reward", "loss"] as const) {
      const c = { ...first, config: { ...first.config, klMode } }
      const advantages = advantagesOf(c).map((a) => a.advantage)
      const r = lossAndGrads(c, "rloo", c.inputs.old, advantages)
      const p = lossAndGrads(c, "ppo_clip", c.inputs.old, advantages)
      close(p.policy.flat(), r.policy.flat(), `∂/∂ log π, klMode ${klMode}`)
      close(p.ref.flat(), r.ref.flat(), `∂/∂ log π_ref, klMode ${klMode}`)
      if (klMode === "reward") {
        const hand = c.inputs.lengths.map((n, i) => Array.from({ length: 4 }, (_, t) => (t < n ? -advantages[i]! / 8 : 0)))
        close(r.policy.flat(), hand.flat(), "RLOO's gradient by hand")
      }
    }
  })

  it("clipping stops the gradient beyond 1 ± ε in the direction the advantage pushes, and only there", () => {
    const eps = later.config.ppoClipEpsilon
    const advantages = advantagesOf(later).map((a) => a.advantage)
    const g = lossAndGrads(later, "ppo_clip", later.inputs.policy, advantages)
    let stopped = 0
    let pessimistic = 0
    later.inputs.lengths.forEach((n, i) => {
      const A = advantages[i]!
      for (let t = 0; t < 4; t++) {
        const ratio = Math.exp(later.inputs.policy[i]![t]! - later.inputs.old[i]![t]!)
        const grad = g.policy[i]![t]!
        if (t >= n) assert.strictEqual(grad, 0, `padding [${i}, ${t}]`)
        else if ((A > 0 && ratio > 1 + eps) || (A < 0 && ratio < 1 - eps)) {
          assert.strictEqual(grad, 0, `clipped token [${i}, ${t}]: A ${A}, ratio ${ratio}`)
          stopped++
        } else {
          // ∂(−A ρ)/∂log π = −A ρ, over B = 8 completions
          assert.closeTo(grad, (-A * ratio) / 8, 1e-6, `token [${i}, ${t}]: A ${A}, ratio ${ratio}`)
          if (ratio > 1 + eps || ratio < 1 - eps) pessimistic++
        }
      }
    })
    // the batch has both kinds: clipped tokens, and tokens out of range on the side that keeps its gradient
    assert.strictEqual(stopped, 9)
    assert.isAtLeast(pessimistic, 3)
    close([stopped / 23], [later.metrics["policy/clipfrac"]!], "clipfrac = share of tokens with no gradient")
  })
})
