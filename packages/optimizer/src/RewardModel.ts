/**
 * A Bradley–Terry reward model: the GPT trunk (Gpt's parameters, read by name) with a scalar head
 * on the final hidden state of the last real token, as Hugging Face's GPT2ForSequenceClassification.
 * Trained with −log σ(r_w − r_l); exported to ONNX by RewardModelOnnx.ts.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import type { Tokenizer } from "@odpo/core"
import { Errors } from "@odpo/core"
import { Gpt } from "@odpo/model"
import { AdamW, clipByGlobalNorm, globalNormSquared } from "./AdamW.ts"
import { logSigmoid } from "./losses/index.ts"
import { deriveSeed, mulberry32, shuffled } from "./Random.ts"
import { sftPlan } from "./Sft.ts"

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
  constructor(readonly trunk: Gpt.Gpt, readonly head: tf.Variable) {}

  /** A fresh model: GPT-2 initialisation for the trunk, N(0, 0.02) for the head ([D, 1], so r = h·w). */
  static init(config: Gpt.GptConfig, seed: number): RewardModel {
    const trunk = Gpt.Gpt.init(config, seed)
    const rand = mulberry32(deriveSeed(seed, "score-head"))
    const w = Float32Array.from({ length: config.dModel }, () => (rand() - 0.5) * 0.02 * Math.sqrt(12))
    const init = tf.tensor2d(w, [config.dModel, 1])
    const head = tf.variable(init, true, `score.weight_${nextHeadId++}`)
    init.dispose()
    return new RewardModel(trunk, head)
  }

  get config(): Gpt.GptConfig {
    return this.trunk.config
  }

  variables(): Array<tf.Variable> {
    return [...this.trunk.variables(), this.head]
  }

  dispose(): void {
    this.trunk.dispose()
    this.head.dispose()
  }

  /**
   * The final hidden states ln_f(x) [B, T, D]: Gpt.forward without the tied LM head (Gpt only
   * returns logits). Same maths as Gpt.forward, tested against it.
   */
  hidden(ids: tf.Tensor2D, keyMask: tf.Tensor2D): tf.Tensor3D {
    const { nLayers, nHeads: H, dModel: D } = this.config
    const [B, T] = ids.shape
    const p = (n: string) => this.trunk.params.get(n)!
    const hd = D / H
    const positions = tf.range(0, T, 1, "int32")
    // Token embeddings as oneHot(ids) · wte rather than gather: on tfjs's cpu backend gather's
    // gradient (UnsortedSegmentSum) is ~10× slower than the matMul. Positions are 0..T−1: a slice.
    const V = this.config.vocabSize
    const tok = tf.reshape(tf.matMul(tf.oneHot(tf.reshape(ids, [B * T]), V), p("wte.weight")), [B, T, D])
    let x = tf.add(tok, tf.slice(p("wpe.weight"), [0, 0], [T, D])) as tf.Tensor3D
    // causal and padding mask, additive: 0 where allowed, −1e9 where not
    const causal = tf.lessEqual(tf.reshape(positions, [1, T]), tf.reshape(positions, [T, 1]))
    const allowed = tf.logicalAnd(tf.reshape(causal, [1, 1, T, T]), tf.reshape(tf.cast(keyMask, "bool"), [B, 1, 1, T]))
    const mask = tf.mul(tf.sub(1, tf.cast(allowed, "float32")), -1e9)
    const linear = (h: tf.Tensor, name: string, out: number) =>
      tf.reshape(tf.add(tf.matMul(tf.reshape(h, [B * T, -1]), p(`${name}.weight`)), p(`${name}.bias`)), [B, T, out])
    const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, T, H, hd]), [0, 2, 1, 3])
    for (let i = 0; i < nLayers; i++) {
      const pre = `h.${i}.`
      // x = x + attn(ln_1(x))
      const qkv = linear(Gpt.layerNorm(x, p(pre + "ln_1.weight"), p(pre + "ln_1.bias")), pre + "attn.c_attn", 3 * D)
      const [q, k, v] = tf.split(qkv, 3, 2).map(heads) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]
      const att = tf.softmax(tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(hd)), mask), -1)
      const y = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B, T, D])
      x = tf.add(x, linear(y, pre + "attn.c_proj", D)) as tf.Tensor3D
      // x = x + mlp(ln_2(x))
      const fc = Gpt.gelu(linear(Gpt.layerNorm(x, p(pre + "ln_2.weight"), p(pre + "ln_2.bias")), pre + "mlp.c_fc", 4 * D))
      x = tf.add(x, linear(fc, pre + "mlp.c_proj", D)) as tf.Tensor3D
    }
    return Gpt.layerNorm(x, p("ln_f.weight"), p("ln_f.bias")) as tf.Tensor3D
  }

  /** r(x, y) per row, [B]: the head on the hidden state of the row's last real token. */
  scores(batch: RewardBatch): tf.Tensor1D {
    const [B, T] = batch.ids.shape
    const D = this.config.dModel
    const h = tf.reshape(this.hidden(batch.ids, batch.keyMask), [B * T, D])
    return tf.reshape(tf.matMul(tf.gather(h, batch.last), this.head), [B]) as tf.Tensor1D
  }

  /** Scores of token-id sequences as numbers, batched; one read-back per batch. */
  async score(seqs: ReadonlyArray<ReadonlyArray<number>>, padId: number, batchSize = 64): Promise<Array<number>> {
    const out: Array<number> = []
    for (let i = 0; i < seqs.length; i += batchSize) {
      const batch = makeRewardBatch(seqs.slice(i, i + batchSize), padId)
      const scores = tf.tidy(() => this.scores(batch))
      disposeRewardBatch(batch)
      out.push(...(await scores.data()))
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
  readonly model: Gpt.GptConfig
  readonly tokenizer: Tokenizer.Tokenizer
  readonly steps: number
  readonly learningRate: number
  /** Share of the pairs held out to measure accuracy (0 = none). */
  readonly validationFraction: number
  readonly seed: number
  /** Pairs per step (default 16). */
  readonly batchSize?: number
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

/** Train a reward model (the caller disposes `model`). */
export const fitRewardModel = Effect.fn("RewardModel.fit")(function*(o: FitOptions) {
  const config = { ...o.model, vocabSize: o.model.vocabSize || o.tokenizer.vocabSize }
  const problem = Gpt.validateConfig(config)
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
  const model = RewardModel.init(config, o.seed)
  const optimizer = new AdamW(model.variables(), { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 })
  const padId = o.tokenizer.padId
  const losses: Array<number> = []
  const plan = sftPlan(train.length, o.steps, o.batchSize ?? 16, deriveSeed(o.seed, "rm-batches"))
  for (const step of plan) {
    const pairs = step.microBatches[0]!.map((i) => train[i]!)
    const batch = makeRewardBatch([...pairs.map((p) => [...p.prompt, ...p.chosen]), ...pairs.map((p) => [...p.prompt, ...p.rejected])], padId)
    const { value, grads } = tf.variableGrads(() => {
      // chosen and rejected in one forward; loss = mean −log σ(r_w − r_l)
      const [rw, rl] = tf.split(model.scores(batch), 2)
      return tf.neg(tf.mean(logSigmoid(tf.sub(rw!, rl!)))) as tf.Scalar
    }, model.variables())
    disposeRewardBatch(batch)
    const g = model.variables().map((v) => grads[v.name]!)
    // loss and ‖g‖² in one read-back
    const both = tf.tidy(() => tf.stack([value, globalNormSquared(g)]))
    const [loss, normSquared] = yield* Effect.promise(() => both.data())
    const norm = Math.sqrt(normSquared!)
    tf.dispose([both, value])
    if (!Number.isFinite(loss!) || !Number.isFinite(norm)) {
      tf.dispose(g)
      optimizer.dispose()
      model.dispose()
      return yield* new Errors.NonFiniteLoss({ step: losses.length, message: `reward model: step ${losses.length} produced a non-finite loss (${loss}); lower learningRate` })
    }
    const clipped = clipByGlobalNorm(g, norm, 1)
    optimizer.apply(clipped, o.learningRate)
    if (clipped !== g) tf.dispose(clipped as Array<tf.Tensor>)
    tf.dispose(g)
    losses.push(loss!)
  }
  optimizer.dispose()
  const accuracy = async (set: ReadonlyArray<RewardPair>) => {
    if (set.length === 0) return Number.NaN
    const rw = await model.score(set.map((p) => [...p.prompt, ...p.chosen]), padId)
    const rl = await model.score(set.map((p) => [...p.prompt, ...p.rejected]), padId)
    return rw.filter((r, i) => r > rl[i]!).length / set.length
  }
  const validationAccuracy = yield* Effect.promise(() => accuracy(val))
  const trainAccuracy = yield* Effect.promise(() => accuracy(train))
  return { model, validationAccuracy, trainAccuracy, losses } satisfies FitResult
})
