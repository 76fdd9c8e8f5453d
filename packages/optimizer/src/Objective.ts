/**
 * What one training item is and how a micro-batch of items becomes a loss: one objective per
 * loss name, looked up in `objectives`. Pairwise losses share one objective (chosen and rejected
 * in ONE batched forward); kto has its own (matched and mismatched in one forward).
 */
import * as tf from "@tensorflow/tfjs-core"
import type { Domain, RunConfig } from "@odpo/core"
import type { Gpt } from "@odpo/model"
import { LogProbs } from "@odpo/model"
import { kto, type PairLogps, pairLosses, type PairLossName, withSftTerm } from "./losses/index.ts"

/** A metric accumulated over a step: its mean is sum / count. */
export interface Stat {
  sum: number
  count: number
}
export type Stats = Record<string, Stat>

/**
 * A step's metric sums while they are still on the device: each `add` sums on the device and
 * keeps the scalar past the gradient's tidy; `read` brings all of them (and any extra scalars) to
 * the host in ONE read-back, so a step costs one GPU round trip, not one per metric.
 */
export class PendingStats {
  private readonly sums: Array<{ readonly name: string; readonly sum: tf.Scalar; readonly count: number }> = []

  add(name: string, values: tf.Tensor, count: number): void {
    this.sums.push({ name, sum: tf.keep(tf.sum(values)), count })
  }

  /** The stats, and the values of `extra` (in order); frees every pending scalar. */
  async read(extra: ReadonlyArray<tf.Scalar> = []): Promise<{ stats: Stats; extra: Array<number> }> {
    const all = [...extra, ...this.sums.map((s) => s.sum)]
    const stacked = tf.stack(all)
    const values = await stacked.data()
    stacked.dispose()
    tf.dispose(this.sums.map((s) => s.sum))
    const stats: Stats = {}
    this.sums.forEach((s, i) => {
      const st = (stats[s.name] ??= { sum: 0, count: 0 })
      st.sum += values[extra.length + i]!
      st.count += s.count
    })
    this.sums.length = 0
    return { stats, extra: Array.from(values.subarray(0, extra.length)) }
  }
}

/** A KTO example with its mismatched partner (its prompt, another example's completion). */
export interface KtoItem {
  readonly example: Domain.LabelledExample
  readonly mismatched: Domain.Sequence
  readonly refMismatchedLogp: number
}

export interface MicroBatchContext {
  readonly model: Gpt.Gpt
  readonly padId: number
  readonly loss: RunConfig.LossConfig
  /** Dropout seed for this micro-batch (used only when the model has dropout). */
  readonly dropoutSeed: number
  /** Where the micro-batch's metric sums go (device scalars, read once per step). */
  readonly stats: PendingStats
}

export interface Objective<Item> {
  /** The sequences an item feeds the model (for the context-length and vocabulary checks). */
  readonly sequences: (item: Item) => ReadonlyArray<Domain.Sequence>
  /** Σ over the micro-batch of the per-item loss (the trainer divides by the step's item count). Call inside a tidy. */
  readonly lossSum: (items: ReadonlyArray<Item>, ctx: MicroBatchContext) => tf.Scalar
}


/**
 * Summed completion log-probs of `seqs` under the model, in one forward, [N]. The batch's
 * tensors are freed by the enclosing tidy (tf.variableGrads runs the forward in one; the
 * backward pass keeps its own copies of what it needs).
 */
const forwardLogps = (seqs: ReadonlyArray<Domain.Sequence>, ctx: MicroBatchContext) => {
  const batch = LogProbs.makeBatch(seqs, ctx.padId, ctx.model.config.contextLength)
  return LogProbs.sequenceLogProbs(ctx.model, batch, { training: true, dropoutSeed: ctx.dropoutSeed })
}

/** The objective of every pairwise loss: DPO family, SimPO, sft (+ sftWeight). */
export const pairwise = (name: PairLossName): Objective<Domain.TrainingPair> => ({
  sequences: (p) => [p.chosen, p.rejected],
  lossSum: (pairs, ctx) => {
    const B = pairs.length
    // chosen and rejected in ONE forward: a 2B batch, split after
    const logps = forwardLogps([...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)], ctx)
    const [policyChosen, policyRejected] = tf.split(logps, [B, B]) as [tf.Tensor1D, tf.Tensor1D]
    const x: PairLogps = {
      policyChosen,
      policyRejected,
      refChosen: tf.tensor1d(pairs.map((p) => p.refChosenLogp)),
      refRejected: tf.tensor1d(pairs.map((p) => p.refRejectedLogp)),
      chosenLengths: tf.tensor1d(pairs.map((p) => p.chosen.completionTokenIds.length)),
      rejectedLengths: tf.tensor1d(pairs.map((p) => p.rejected.completionTokenIds.length))
    }
    const out = withSftTerm(pairLosses[name](x, ctx.loss), x, ctx.loss.sftWeight)
    const sum = tf.sum(out.losses) as tf.Scalar
    const margins = tf.sub(out.chosenRewards, out.rejectedRewards)
    ctx.stats.add("loss", out.losses, B)
    ctx.stats.add("rewards/chosen", out.chosenRewards, B)
    ctx.stats.add("rewards/rejected", out.rejectedRewards, B)
    ctx.stats.add("rewards/margins", margins, B)
    ctx.stats.add("rewards/accuracies", tf.cast(tf.greater(margins, 0), "float32"), B)
    ctx.stats.add("logps/chosen", policyChosen, B)
    ctx.stats.add("logps/rejected", policyRejected, B)
    return sum
  }
})

/** KTO: matched and mismatched sequences in one forward; z₀ per micro-batch. */
export const ktoObjective: Objective<KtoItem> = {
  sequences: (k) => [k.example.sequence, k.mismatched],
  lossSum: (items, ctx) => {
    const N = items.length
    const logps = forwardLogps([...items.map((k) => k.example.sequence), ...items.map((k) => k.mismatched)], ctx)
    const [policy, policyMismatched] = tf.split(logps, [N, N]) as [tf.Tensor1D, tf.Tensor1D]
    const desirable = tf.tensor1d(items.map((k) => (k.example.desirable ? 1 : 0)))
    const out = kto({
      policy,
      ref: tf.tensor1d(items.map((k) => k.example.refLogp)),
      desirable,
      policyMismatched,
      refMismatched: tf.tensor1d(items.map((k) => k.refMismatchedLogp))
    }, ctx.loss)
    const nGood = items.filter((k) => k.example.desirable).length
    ctx.stats.add("loss", out.losses, N)
    ctx.stats.add("rewards/chosen", tf.mul(out.rewards, desirable), nGood)
    ctx.stats.add("rewards/rejected", tf.mul(out.rewards, tf.sub(1, desirable)), N - nGood)
    ctx.stats.add("logps/chosen", tf.mul(policy, desirable), nGood)
    ctx.stats.add("logps/rejected", tf.mul(policy, tf.sub(1, desirable)), N - nGood)
    ctx.stats.add("kl", out.z0, 1)
    return tf.sum(out.losses) as tf.Scalar
  }
}

/** The objective of each loss name. */
export const objectives: { readonly [K in RunConfig.LossName]: Objective<K extends "kto" ? KtoItem : Domain.TrainingPair> } = {
  sigmoid: pairwise("sigmoid"),
  ipo: pairwise("ipo"),
  hinge: pairwise("hinge"),
  robust: pairwise("robust"),
  simpo: pairwise("simpo"),
  rdpo: pairwise("rdpo"),
  sft: pairwise("sft"),
  kto: ktoObjective
}
