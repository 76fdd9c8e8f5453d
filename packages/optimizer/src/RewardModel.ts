/**
 * A Bradley–Terry reward model: the GPT trunk (Gpt's parameters, read by name) with a scalar head
 * on the final hidden state of the last real token, as Hugging Face's GPT2ForSequenceClassification.
 * Trained with −log σ(r_w − r_l) on the one training loop; exported to ONNX by RewardModelExport.ts.
 */
import { Errors, type RunConfig, Seeds, type Tokenizer } from "@odpo/core"
import { Architectures, type CausalLm } from "@odpo/model"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { logSigmoid } from "./losses/index.ts"
import { sftPlan, sftTraining } from "./objectives/index.ts"
import { type MicroBatchGradients, trainLoop } from "./TrainLoop.ts"

const { deriveSeed, mulberry32, shuffled } = Seeds

/** A right-padded batch of whole sequences (prompt + completion) and where each ends. */
export interface RewardBatch {
  readonly ids: tf.Tensor2D
  readonly keyMask: tf.Tensor2D
  /** Flat index b·T + (length_b − 1) of each row's last real token, [B] int32. */
  readonly last: tf.Tensor1D
}

export const makeRewardBatch = (seqs: ReadonlyArray<ReadonlyArray<number>>, padId: number): RewardBatch => {
  const B = seqs.length
  const T = Math.max(...seqs.map((s) => s.length))
  const ids = new Int32Array(B * T).fill(padId)
  const mask = new Float32Array(B * T)
  seqs.forEach((s, b) => s.forEach((tok, t) => {
    ids[b * T + t] = tok
    mask[b * T + t] = 1
  }))
  return {
    ids: tf.tensor2d(ids, [B, T], "int32"),
    keyMask: tf.tensor2d(mask, [B, T]),
    last: tf.tensor1d(seqs.map((s, b) => b * T + s.length - 1), "int32")
  }
}

export const disposeRewardBatch = (b: RewardBatch) => tf.dispose([b.ids, b.keyMask, b.last])

// tfjs variable names are global and must be unique.
let nextHeadId = 0

export class RewardModel {
  constructor(readonly trunk: CausalLm.CausalLm, readonly head: tf.Variable) {}

  /** A fresh model: GPT-2 initialisation for the trunk, N(0, 0.02) for the head ([D, 1], so r = h·w). */
  /** `weights`: a checkpoint's transformer to start the trunk from (its config is `config`). */
  static init(config: CausalLm.ModelConfig, seed: number, weights?: Map<string, Float32Array>): RewardModel {
    const trunk = weights ? Architectures.build(config, weights) : Architectures.init(config, seed)
    const rand = mulberry32(deriveSeed(seed, "score-head"))
    const w = Float32Array.from({ length: config.dModel }, () => (rand() - 0.5) * 0.02 * Math.sqrt(12))
    const init = tf.tensor2d(w, [config.dModel, 1])
    const head = tf.variable(init, true, `score.weight_${nextHeadId++}`)
    init.dispose()
    return new RewardModel(trunk, head)
  }

  get config(): CausalLm.ModelConfig {
    return this.trunk.config
  }

  variables(): Array<tf.Variable> {
    return [...this.trunk.variables(), this.head]
  }

  dispose(): void {
    this.trunk.dispose()
    this.head.dispose()
  }

  /** r(x, y) per row, [B]: the head on the hidden state of the row's last real token. */
  scores(batch: RewardBatch): tf.Tensor1D {
    const [B, T] = batch.ids.shape
    const D = this.config.dModel
    // The GPT's own transformer (Gpt.hidden), right-padded rows at positions 0…T−1.
    const h = tf.reshape(this.trunk.hidden(batch.ids, { keyMask: batch.keyMask }).hidden, [B * T, D])
    return tf.reshape(tf.matMul(tf.gather(h, batch.last), this.head), [B]) as tf.Tensor1D
  }

  /** Scores of token-id sequences as numbers, batched. */
  async score(seqs: ReadonlyArray<ReadonlyArray<number>>, padId: number, batchSize = 64): Promise<Array<number>> {
    const out: Array<number> = []
    for (let i = 0; i < seqs.length; i += batchSize) {
      const batch = makeRewardBatch(seqs.slice(i, i + batchSize), padId)
      const scores = tf.tidy(() => this.scores(batch))
      disposeRewardBatch(batch)
      out.push(...Array.from(await scores.data()))
      scores.dispose()
    }
    return out
  }
}

/** One preference, as token ids (prompt shared by both completions). */
export interface RewardPair {
  readonly prompt: ReadonlyArray<number>
  readonly chosen: ReadonlyArray<number>
  readonly rejected: ReadonlyArray<number>
}

export interface FitOptions {
  readonly pairs: ReadonlyArray<RewardPair>
  /** The trunk's shape; vocabSize 0 = the tokenizer's. */
  readonly model: RunConfig.ModelConfig
  /** A checkpoint's transformer to start from instead (its config replaces `model`). */
  readonly trunk?: { readonly config: CausalLm.ModelConfig; readonly weights: Map<string, Float32Array> }
  readonly tokenizer: Tokenizer.Tokenizer
  readonly steps: number
  readonly learningRate: number
  /** Share of the pairs held out to measure accuracy (0 = none). */
  readonly validationFraction: number
  readonly seed: number
  /** Pairs per step (default 16). */
  readonly batchSize?: number
  /** Progress label (default "reward model"). */
  readonly label?: string
}

export interface FitResult {
  readonly model: RewardModel
  /** Share of held-out pairs with r_w > r_l (NaN when none are held out). */
  readonly validationAccuracy: number
  readonly trainAccuracy: number
  /** −log σ(r_w − r_l) per step. */
  readonly losses: ReadonlyArray<number>
}

const invalid = (message: string) => Effect.fail(new Errors.InvalidInput({ message }))

/** The Bradley–Terry loss on a micro-batch of pairs: Σ −log σ(r_w − r_l) / scale, chosen and rejected in one forward. */
const bradleyTerry = (model: RewardModel, padId: number): MicroBatchGradients<RewardPair> => (pairs, scale, { metrics }) =>
  Effect.sync(() => {
    const batch = makeRewardBatch([...pairs.map((p) => [...p.prompt, ...p.chosen]), ...pairs.map((p) => [...p.prompt, ...p.rejected])], padId)
    try {
      const { value, grads } = tf.variableGrads(() => {
        const [rw, rl] = tf.split(model.scores(batch), 2)
        const losses = tf.neg(logSigmoid(tf.sub(rw!, rl!)))
        metrics.add("loss", tf.sum(losses), pairs.length)
        metrics.add("rewards/accuracies", tf.sum(tf.cast(tf.greater(rw!, rl!), "float32")), pairs.length)
        return tf.div(tf.sum(losses), scale) as tf.Scalar
      }, model.variables())
      return { value, grads: model.variables().map((v) => grads[v.name]!) }
    } finally {
      disposeRewardBatch(batch)
    }
  })

/** Train a reward model on the one training loop (the caller disposes `model`; a failed fit disposes it). */
export const fitRewardModel = Effect.fn("RewardModel.fit")(function*(o: FitOptions) {
  const config = o.trunk?.config ?? Architectures.fromPolicyModel({ ...o.model, vocabSize: o.model.vocabSize || o.tokenizer.vocabSize })
  const problem = Architectures.validateConfig(config)
  if (problem) return yield* invalid(problem)
  if (config.vocabSize !== o.tokenizer.vocabSize) {
    return yield* invalid(`model.vocabSize (${config.vocabSize}) differs from the tokenizer's ${o.tokenizer.vocabSize}: leave it 0 to take the tokenizer's`)
  }
  if (o.pairs.length < 2) return yield* invalid(`pairs: a reward model needs at least 2 preference pairs (got ${o.pairs.length})`)
  if (!(o.validationFraction >= 0 && o.validationFraction < 1)) return yield* invalid(`validationFraction must be in [0, 1) (got ${o.validationFraction})`)
  if (!(Number.isInteger(o.steps) && o.steps > 0)) return yield* invalid(`steps must be a positive integer (got ${o.steps})`)
  if (!(o.learningRate > 0)) return yield* invalid(`learningRate must be > 0 (got ${o.learningRate})`)
  for (let i = 0; i < o.pairs.length; i++) {
    const p = o.pairs[i]!
    for (const side of ["chosen", "rejected"] as const) {
      const n = p.prompt.length + p[side].length
      if (n === 0) return yield* invalid(`pairs[${i}].${side}: prompt and completion are both empty`)
      if (n > config.contextLength) return yield* invalid(`pairs[${i}].${side}: ${n} tokens exceed model.contextLength ${config.contextLength}`)
      if ([...p.prompt, ...p[side]].some((t) => !(Number.isInteger(t) && t >= 0 && t < config.vocabSize))) {
        return yield* invalid(`pairs[${i}].${side}: a token id is outside the vocabulary [0, ${config.vocabSize})`)
      }
    }
  }
  const order = shuffled(o.pairs, mulberry32(deriveSeed(o.seed, "rm-split")))
  const nVal = Math.round(order.length * o.validationFraction)
  const val = order.slice(0, nVal)
  const train = order.slice(nVal)
  const model = RewardModel.init(config, o.seed, o.trunk?.weights)
  const padId = o.tokenizer.padId
  const batchSize = o.batchSize ?? 16
  const steps = yield* trainLoop({
    variables: model.variables(),
    items: train,
    gradients: bradleyTerry(model, padId),
    training: sftTraining({ batchSize, learningRate: o.learningRate }),
    seed: o.seed,
    label: o.label ?? "reward model",
    plan: sftPlan(train.length, o.steps, batchSize, deriveSeed(o.seed, "rm-batches"))
  }).pipe(Effect.onError(() => Effect.sync(() => model.dispose())))
  const accuracy = async (set: ReadonlyArray<RewardPair>) => {
    if (set.length === 0) return Number.NaN
    const rw = await model.score(set.map((p) => [...p.prompt, ...p.chosen]), padId)
    const rl = await model.score(set.map((p) => [...p.prompt, ...p.rejected]), padId)
    return rw.filter((r, i) => r > rl[i]!).length / set.length
  }
  return {
    model,
    validationAccuracy: yield* Effect.promise(() => accuracy(val)),
    trainAccuracy: yield* Effect.promise(() => accuracy(train)),
    losses: steps.map((s) => s.metrics["loss"]!)
  } satisfies FitResult
})
