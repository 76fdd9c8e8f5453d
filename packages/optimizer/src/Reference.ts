/**
 * The reference policy's side of training: log π_ref per sequence (computed once, cached by
 * checkpoint id and token ids, process-wide), sequence KL / entropy / log-prob of a policy
 * against its reference, and the TR-DPO soft update of the reference.
 */
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import type { Domain, Trainer } from "@odpo/core"
import { Errors } from "@odpo/core"
import { Checkpoint, Gpt, LogProbs } from "@odpo/model"
import { checkSequences } from "./Validate.ts"

/** Checkpoint errors as the Trainer reports them (a tokenizer that does not fit is a corrupt checkpoint). */
export const load = (ref: Domain.CheckpointRef) =>
  Checkpoint.loadCheckpointCached(ref).pipe(
    Effect.catchTag("TokenizerMismatch", (e) => Effect.fail(new Errors.CheckpointCorrupt({ path: ref.path, message: e.message, cause: e })))
  )

// (checkpoint id, prompt ids, completion ids) → log π_ref(y|x). Bounded: the oldest entries go first.
const cache = new Map<string, number>()
const CACHE_LIMIT = 1_000_000
const keyOf = (id: string, s: Domain.Sequence) => `${id}|${s.promptTokenIds.join(",")}|${s.completionTokenIds.join(",")}`

/** Forget every cached reference log-prob (tests). */
export const clearReferenceCache = (): void => cache.clear()
export const referenceCacheSize = (): number => cache.size

/** log π_ref(y|x) summed over completion tokens, per sequence; only sequences not seen before are computed. */
export const referenceLogps = Effect.fn("Trainer.referenceLogps")(function*(reference: Domain.CheckpointRef, sequences: ReadonlyArray<Domain.Sequence>) {
  const keys = sequences.map((s) => keyOf(reference.id, s))
  const missing: Array<number> = []
  const seen = new Set<string>()
  keys.forEach((k, i) => {
    if (!cache.has(k) && !seen.has(k)) {
      seen.add(k)
      missing.push(i)
    }
  })
  if (missing.length > 0) {
    const loaded = yield* load(reference)
    const todo = missing.map((i) => sequences[i]!)
    yield* checkSequences(todo, loaded.config, (i) => `sequences[${missing[i]}]`)
    const values = yield* Effect.promise(() => LogProbs.scoreSequences(loaded.model, todo, loaded.tokenizer.padId, 64))
    missing.forEach((i, j) => cache.set(keys[i]!, values[j]!))
    for (const k of cache.keys()) {
      if (cache.size <= CACHE_LIMIT) break
      cache.delete(k)
    }
  }
  return keys.map((k) => cache.get(k)!)
})

/**
 * Per sequence: Σ over completion tokens of the exact KL(π ‖ π_ref) over the vocabulary (as
 * LogProbs.tokenKl), Σ of the policy's entropy, and log π(y|x). One forward of each model per
 * batch serves all three.
 */
export const sequenceStats = Effect.fn("Trainer.sequenceStats")(function*(
  policy: Domain.CheckpointRef,
  reference: Domain.CheckpointRef,
  sequences: ReadonlyArray<Domain.Sequence>,
  batchSize = 32
) {
  const p = yield* load(policy)
  const q = yield* load(reference)
  if (p.config.vocabSize !== q.config.vocabSize) {
    return yield* new Errors.InvalidInput({
      message: `policy ${policy.path} has a vocabulary of ${p.config.vocabSize} but reference ${reference.path} has ${q.config.vocabSize}: they must share a tokenizer`
    })
  }
  const ctx = { ...p.config, contextLength: Math.min(p.config.contextLength, q.config.contextLength) }
  yield* checkSequences(sequences, ctx, (i) => `sequences[${i}]`)
  const out: Array<Trainer.SequenceStats> = []
  for (let i = 0; i < sequences.length; i += batchSize) {
    const batch = LogProbs.makeBatch(sequences.slice(i, i + batchSize), p.tokenizer.padId, ctx.contextLength)
    // [3, B]: KL, entropy and log-prob per sequence, read back in one go
    const sums = tf.tidy(() => {
      const lp = LogProbs.nextTokenLogProbs(p.model, batch)
      const lq = LogProbs.nextTokenLogProbs(q.model, batch)
      const probs = tf.exp(lp)
      const [B, T1, V] = lp.shape
      const masked = (perToken: tf.Tensor) => tf.sum(tf.mul(perToken, batch.targetMask), -1)
      // KL = Σ_v π(v)(log π(v) − log π_ref(v)); H = −Σ_v π(v) log π(v); log π(y_t) by one-hot pick
      const targets = tf.oneHot(tf.reshape(tf.slice(batch.ids, [0, 1], [B, T1]), [B * T1]), V)
      return tf.stack([
        masked(tf.sum(tf.mul(probs, tf.sub(lp, lq)), -1)),
        masked(tf.neg(tf.sum(tf.mul(probs, lp), -1))),
        masked(tf.sum(tf.mul(lp, tf.reshape(targets, [B, T1, V])), -1))
      ])
    })
    LogProbs.disposeBatch(batch)
    const values = yield* Effect.promise(() => sums.data())
    const B = sums.shape[1]!
    sums.dispose()
    for (let b = 0; b < B; b++) out.push({ kl: values[b]!, entropy: values[B + b]!, logp: values[2 * B + b]! })
  }
  return out
})

/** TR-DPO soft update: new reference = α·policy + (1 − α)·reference, written as a checkpoint under `root`. */
export const emaReference = Effect.fn("Trainer.emaReference")(function*(
  policy: Domain.CheckpointRef,
  reference: Domain.CheckpointRef,
  alpha: number,
  root: string
) {
  if (!(alpha >= 0 && alpha <= 1)) {
    return yield* new Errors.InvalidInput({ message: `reference.alpha must be in [0, 1] (got ${alpha})` })
  }
  const p = yield* load(policy)
  const q = yield* load(reference)
  const same = (["vocabSize", "contextLength", "dModel", "nLayers", "nHeads"] as const).every((k) => p.config[k] === q.config[k])
  if (!same) {
    return yield* new Errors.InvalidInput({
      message: `emaReference: policy ${policy.path} and reference ${reference.path} have different shapes; a soft update needs the same model config`
    })
  }
  const pw = yield* Effect.promise(() => p.model.weights())
  const qw = yield* Effect.promise(() => q.model.weights())
  const mixed = new Map<string, Float32Array>()
  for (const [name, a] of pw) {
    const b = qw.get(name)!
    const out = new Float32Array(a.length)
    for (let i = 0; i < a.length; i++) out[i] = alpha * a[i]! + (1 - alpha) * b[i]!
    mixed.set(name, out)
  }
  return yield* Effect.acquireUseRelease(
    Effect.sync(() => new Gpt.Gpt(p.config, mixed)),
    (model) => Checkpoint.saveCheckpoint(root, model, p.tokenizer, { meta: { kind: "ema_reference", alpha, policy: policy.id, reference: reference.id } }),
    (model) => Effect.sync(() => model.dispose())
  )
})
