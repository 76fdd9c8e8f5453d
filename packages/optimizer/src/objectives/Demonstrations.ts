/**
 * Supervised fine-tuning on demonstrations (how π₀ is made): NLL of the completion tokens, prompt
 * masked, averaged over all completion tokens of the batch; batches drawn by a seeded PRNG.
 */
import { type Domain, type RunConfig, Seeds } from "@odpo/core"
import { type CausalLm, LogProbs } from "@odpo/model"
import * as tf from "@tensorflow/tfjs-core"
import type { StepPlan } from "../TrainLoop.ts"
import type { Objective } from "./Objective.ts"

const { deriveSeed, mulberry32, shuffled } = Seeds

/** Σ NLL over the batch's completion tokens × B / Σ|y|: after the trainer's division by B it is the token mean. */
export const demonstrationObjective: Objective<Domain.Sequence> = {
  sequences: (seqs) => seqs,
  lossSum: (seqs, logps, metrics) => {
    const tokens = seqs.reduce((a, s) => a + s.completionTokenIds.length, 0)
    const nll = tf.neg(tf.sum(logps.sums))
    metrics.add("loss", nll, tokens)
    return tf.mul(nll, seqs.length / tokens) as tf.Scalar
  }
}

/** Mean NLL per completion token of `seqs` (no gradient): SFT's held-out measure. */
export const heldOutNll = async (model: CausalLm.CausalLm, seqs: ReadonlyArray<Domain.Sequence>, padId: number): Promise<number> => {
  const logps = await LogProbs.scoreSequences(model, seqs, padId)
  const tokens = seqs.reduce((a, s) => a + s.completionTokenIds.length, 0)
  return -logps.reduce((a, b) => a + b, 0) / tokens
}

/**
 * `steps` batches of `batchSize` demonstrations: the demonstrations in a seeded random order,
 * taken batchSize at a time, reshuffled each time the order runs out (epoch = full passes).
 */
export const sftPlan = (n: number, steps: number, batchSize: number, seed: number): Array<StepPlan> => {
  const plan: Array<StepPlan> = []
  let epoch = 0
  let order = shuffled(Array.from({ length: n }, (_, i) => i), mulberry32(deriveSeed(seed, "sft", epoch)))
  let pos = 0
  for (let s = 0; s < steps; s++) {
    const batch: Array<number> = []
    while (batch.length < Math.min(batchSize, n)) {
      if (pos === n) {
        epoch += 1
        order = shuffled(order, mulberry32(deriveSeed(seed, "sft", epoch)))
        pos = 0
      }
      batch.push(order[pos++]!)
    }
    plan.push({ epoch, microBatches: [batch] })
  }
  return plan
}

/** SFT's optimiser settings: the TrainingConfig defaults around its batch size and learning rate (clip at 1, no decay). */
export const sftTraining = (sft: Pick<RunConfig.SftConfig, "batchSize" | "learningRate">): RunConfig.TrainingConfig => ({
  epochs: 1,
  batchSize: sft.batchSize,
  gradAccum: 1,
  learningRate: sft.learningRate,
  warmupSteps: 0,
  schedule: "constant",
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  maxGradNorm: 1
})
