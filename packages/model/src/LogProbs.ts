/**
 * Log-probabilities of completions under a CausalLm, with prompt and padding masked; and the exact
 * per-token KL between two policies over the whole vocabulary. Everything DPO, KL and entropy need.
 */
import * as tf from "@tensorflow/tfjs-core"
import type { Domain } from "@odpo/core"

type Sequence = Domain.Sequence
import type { CausalLm, ForwardOptions } from "./CausalLm.ts"

/**
 * A right-padded batch of prompt+completion sequences.
 * ids: [B, T]; targetMask: [B, T−1], 1 where ids[:, t+1] is a completion token (the token
 * predicted at position t), 0 for prompt tokens and padding; keyMask: [B, T], 1 for real tokens.
 */
export interface SequenceBatch {
  readonly ids: tf.Tensor2D
  readonly targetMask: tf.Tensor2D
  readonly keyMask: tf.Tensor2D
  readonly completionLengths: ReadonlyArray<number>
  readonly length: number
}

/** A SequenceBatch's contents as host arrays (what an engine other than tfjs feeds). */
export interface HostBatch {
  readonly B: number
  readonly T: number
  /** [B, T] */
  readonly ids: Int32Array
  /** [B, T−1] */
  readonly targetMask: Float32Array
  /** [B, T] */
  readonly keyMask: Float32Array
  readonly completionLengths: ReadonlyArray<number>
}

/** Right-pad sequences into host arrays (the layout of SequenceBatch). */
export const hostBatch = (seqs: ReadonlyArray<Sequence>, padId: number, contextLength: number): HostBatch => {
  if (seqs.length === 0) throw new Error("empty batch")
  const T = Math.max(2, ...seqs.map((s) => s.promptTokenIds.length + s.completionTokenIds.length))
  if (T > contextLength) {
    throw new Error(`a sequence of ${T} tokens (prompt + completion) exceeds the model's context length ${contextLength}`)
  }
  const B = seqs.length
  const ids = new Int32Array(B * T).fill(padId)
  const targetMask = new Float32Array(B * (T - 1))
  const keyMask = new Float32Array(B * T)
  seqs.forEach((s, b) => {
    const P = s.promptTokenIds.length
    if (P === 0) throw new Error("a sequence needs at least one prompt token (BOS) to condition on")
    const all = [...s.promptTokenIds, ...s.completionTokenIds]
    all.forEach((tok, t) => {
      ids[b * T + t] = tok
      keyMask[b * T + t] = 1
    })
    // position t predicts token t+1; completion tokens sit at P … P+C−1
    for (let t = P - 1; t < all.length - 1; t++) targetMask[b * (T - 1) + t] = 1
  })
  return { B, T, ids, targetMask, keyMask, completionLengths: seqs.map((s) => s.completionTokenIds.length) }
}

/** Build a batch; the caller disposes it with `disposeBatch`. */
export const makeBatch = (seqs: ReadonlyArray<Sequence>, padId: number, contextLength: number): SequenceBatch => {
  const { B, T, ids, targetMask, keyMask, completionLengths } = hostBatch(seqs, padId, contextLength)
  return {
    ids: tf.tensor2d(ids, [B, T], "int32"),
    targetMask: tf.tensor2d(targetMask, [B, T - 1]),
    keyMask: tf.tensor2d(keyMask, [B, T]),
    completionLengths,
    length: T
  }
}

export const disposeBatch = (b: SequenceBatch): void => {
  b.ids.dispose()
  b.targetMask.dispose()
  b.keyMask.dispose()
}

/** Next-token log-distributions [B, T−1, V] (logSoftmax, never log(softmax)). */
export const nextTokenLogProbs = (model: CausalLm, batch: SequenceBatch, opts: ForwardOptions = {}): tf.Tensor3D => {
  const { logits } = model.forward(batch.ids, { ...opts, keyMask: batch.keyMask })
  const [B, T, V] = logits.shape
  return tf.logSoftmax(tf.slice(logits, [0, 0, 0], [B, T - 1, V]), -1) as tf.Tensor3D
}

/** Per-token log-probs of the completion tokens, [B, T−1], zero where masked. */
export const tokenLogProbs = (model: CausalLm, batch: SequenceBatch, opts: ForwardOptions = {}): tf.Tensor2D => {
  const logp = nextTokenLogProbs(model, batch, opts)
  const [B, T1, V] = logp.shape
  const targets = tf.slice(batch.ids, [0, 1], [B, T1])
  // gather log p(target) with a one-hot product: differentiable and batched
  const picked = tf.sum(tf.mul(logp, tf.reshape(tf.oneHot(tf.reshape(targets, [B * T1]), V), [B, T1, V])), -1)
  return tf.mul(picked, batch.targetMask) as tf.Tensor2D
}

/** Summed completion log-probs log π(y|x), [B]. */
export const sequenceLogProbs = (model: CausalLm, batch: SequenceBatch, opts: ForwardOptions = {}): tf.Tensor1D =>
  tf.sum(tokenLogProbs(model, batch, opts), -1) as tf.Tensor1D

/**
 * Exact per-token KL(π ‖ π_ref) over the full vocabulary at each completion position,
 * Σ_v π(v) (log π(v) − log π_ref(v)), [B, T−1], zero where masked.
 */
export const tokenKl = (policy: CausalLm, reference: CausalLm, batch: SequenceBatch): tf.Tensor2D => {
  const lp = nextTokenLogProbs(policy, batch)
  const lq = nextTokenLogProbs(reference, batch)
  return tf.mul(tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, lq)), -1), batch.targetMask) as tf.Tensor2D
}

/** Per-token entropy −Σ_v π(v) log π(v) at each completion position, [B, T−1], zero where masked. */
export const tokenEntropy = (policy: CausalLm, batch: SequenceBatch): tf.Tensor2D => {
  const lp = nextTokenLogProbs(policy, batch)
  return tf.mul(tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), -1)), batch.targetMask) as tf.Tensor2D
}

/** Summed completion log-probs of sequences as numbers, batched; one read-back per batch. */
export const scoreSequences = async (model: CausalLm, seqs: ReadonlyArray<Sequence>, padId: number, batchSize = 64): Promise<Array<number>> => {
  const out: Array<number> = []
  for (let i = 0; i < seqs.length; i += batchSize) {
    const batch = makeBatch(seqs.slice(i, i + batchSize), padId, model.config.contextLength)
    const logps = tf.tidy(() => sequenceLogProbs(model, batch))
    disposeBatch(batch)
    const values = await logps.data()
    logps.dispose()
    out.push(...Array.from(values))
  }
  return out
}

/** Per-token completion log-probs of sequences as numbers, batched: row i holds |y_i| values. */
export const scoreTokens = async (model: CausalLm, seqs: ReadonlyArray<Sequence>, padId: number, batchSize = 64): Promise<number[][]> => {
  const out: number[][] = []
  for (let i = 0; i < seqs.length; i += batchSize) {
    const part = seqs.slice(i, i + batchSize)
    const batch = makeBatch(part, padId, model.config.contextLength)
    const logps = tf.tidy(() => tokenLogProbs(model, batch))
    disposeBatch(batch)
    const rows = (await logps.array()) as number[][]
    logps.dispose()
    // completion token k of sequence b is predicted at position P_b − 1 + k
    part.forEach((s, b) => out.push(rows[b]!.slice(s.promptTokenIds.length - 1, s.promptTokenIds.length - 1 + s.completionTokenIds.length)))
  }
  return out
}
