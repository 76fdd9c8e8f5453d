/**
 * The policy on onnxruntime, from weights as host arrays: masked sequence log-probs, sequence
 * statistics against a reference (exact KL, entropy), and the VJP — every parameter's gradient of
 * Σ upstream ⊙ token log-probs. Results match the tfjs model to float precision.
 */
import type { Domain } from "@odpo/core"
import { Errors } from "@odpo/core"
import { Effect } from "effect"
import type * as Ort from "onnxruntime-node"
import { architectureOf, entryOf, onnxUse, parameterShapes, validateConfig } from "../Architectures.ts"
import type { CausalLm, ModelConfig } from "../CausalLm.ts"
import { type HostBatch, hostBatch } from "../LogProbs.ts"
import { type Feeds, noGraphs, type OnnxSessions, type OrtModule } from "./OnnxSessions.ts"
import { GRAD_PREFIX, REF_PREFIX } from "./PolicyGraphs.ts"

const { InvalidInput, OnnxError } = Errors
type OnnxError = Errors.OnnxError
type InvalidInput = Errors.InvalidInput

/** A model as the onnx engine holds it: its shape and its weights by name. */
export interface HostModel {
  readonly config: ModelConfig
  readonly weights: ReadonlyMap<string, Float32Array>
}

/**
 * A model's weights as host arrays, read from its tfjs Variables now (on the cpu backend the read is
 * the variable's own buffer, no copy; AdamW's next assign replaces it, so read at every call).
 */
export const hostModelOf = (model: CausalLm): Effect.Effect<HostModel> =>
  Effect.map(Effect.promise(() => model.weights()), (weights) => ({ config: model.config, weights }))


/**
 * Can the exporter write graphs for this model? A config it cannot build, a weight whose size
 * does not fit the config, or dropout in training (the graphs have none) is an error naming the
 * field and saying what to do.
 */
export const checkModel = (model: HostModel, use: "inference" | "training"): Effect.Effect<void, OnnxError> =>
  Effect.suspend(() => {
    const fail = (message: string) => Effect.fail(new OnnxError({ message: `onnx engine: ${message}` }))
    const can = onnxUse(architectureOf(model.config))
    if (can === "none" || (use === "training" && can !== "training")) return Effect.fail(new OnnxError({ message: noGraphs(model.config, use === "training" ? "vjp" : "prefill") }))
    const fieldsOf = entryOf(model.config).shapeFields
    const problem = validateConfig(model.config)
    if (problem) return fail(`${problem}; the exporter cannot build this model`)
    for (const [name, shape] of parameterShapes(model.config)) {
      const data = model.weights.get(name)
      const size = shape.reduce((a, b) => a * b, 1)
      if (!data) return fail(`the checkpoint has no tensor ${name} ([${shape.join(", ")}] from ${fieldsOf(name)}): it is not a checkpoint of this config`)
      if (data.length !== size) {
        return fail(`tensor ${name} has ${data.length} values but ${fieldsOf(name)} = [${shape.join(", ")}] needs ${size}: the checkpoint does not fit its config.json`)
      }
    }
    if (use === "training" && model.config.dropout > 0) {
      return fail(`model.dropout is ${model.config.dropout}, but the onnx training graphs have no dropout: set model.dropout to 0, or train on a tfjs backend (--backend cpu)`)
    }
    return Effect.void
  })

// ort.Tensor wraps the Float32Array without copying, so in-place weight updates show through.
const feedCache = new WeakMap<ReadonlyMap<string, Float32Array>, Map<string, Feeds>>()

/** The weights as graph feeds (names prefixed for the reference model). */
export const weightFeeds = (ort: OrtModule, model: HostModel, prefix = ""): Feeds => {
  let byPrefix = feedCache.get(model.weights)
  if (!byPrefix) feedCache.set(model.weights, byPrefix = new Map())
  let feeds = byPrefix.get(prefix)
  if (!feeds) {
    feeds = {}
    for (const [name, shape] of parameterShapes(model.config)) feeds[prefix + name] = new ort.Tensor("float32", model.weights.get(name)!, shape)
    byPrefix.set(prefix, feeds)
  }
  return feeds
}

/** A right-padded batch as feeds. */
export const batchFeeds = (ort: OrtModule, batch: HostBatch): Feeds => ({
  input_ids: new ort.Tensor("int32", batch.ids, [batch.B, batch.T]),
  key_mask: new ort.Tensor("float32", batch.keyMask, [batch.B, batch.T]),
  target_mask: new ort.Tensor("float32", batch.targetMask, [batch.B, batch.T - 1])
})

/** hostBatch with its refusals (empty prompt, too long) as InvalidInput. */
export const makeHostBatch = (seqs: ReadonlyArray<Domain.Sequence>, padId: number, contextLength: number): Effect.Effect<HostBatch, InvalidInput> =>
  Effect.try({ try: () => hostBatch(seqs, padId, contextLength), catch: (e) => new InvalidInput({ message: (e as Error).message }) })

const values = (t: Ort.Tensor | undefined): Float32Array => t!.data as Float32Array

/**
 * Apply `f` to batches of at most `batchSize` sequences of similar length (less padding), and
 * return its per-sequence results in the order of `seqs`.
 */
const inBatches = <A, E>(
  seqs: ReadonlyArray<Domain.Sequence>,
  batchSize: number,
  f: (batch: ReadonlyArray<Domain.Sequence>) => Effect.Effect<ReadonlyArray<A>, E>
): Effect.Effect<Array<A>, E> =>
  Effect.gen(function*() {
    const length = (s: Domain.Sequence) => s.promptTokenIds.length + s.completionTokenIds.length
    const order = seqs.map((_, i) => i).sort((a, b) => length(seqs[a]!) - length(seqs[b]!) || a - b)
    const out = new Array<A>(seqs.length)
    for (let start = 0; start < order.length; start += batchSize) {
      const slots = order.slice(start, start + batchSize)
      const results = yield* f(slots.map((i) => seqs[i]!))
      slots.forEach((slot, j) => (out[slot] = results[j]!))
    }
    return out
  })

/** Masked token log-probs [B, T−1] and their sums [B] of one batch. */
export const batchLogps = (sessions: OnnxSessions, model: HostModel, batch: HostBatch) =>
  Effect.map(sessions.run("logps", model.config, { ...weightFeeds(sessions.ort, model), ...batchFeeds(sessions.ort, batch) }), (out) => ({
    tokenLogps: values(out["token_logps"]),
    logps: values(out["logps"])
  }))

/** A training step's forward (the train graph): token log-probs, and what the VJP graph reads as feeds (log-distributions, saved activations). */
export const trainingLogps = (sessions: OnnxSessions, model: HostModel, batch: HostBatch): Effect.Effect<{ tokenLogps: Float32Array; saved: Feeds }, OnnxError> =>
  Effect.map(sessions.run("train", model.config, { ...weightFeeds(sessions.ort, model), ...batchFeeds(sessions.ort, batch) }), (out) => {
    // Everything but the log-probs is for the VJP graph: the log-distributions and the saved activations.
    const saved: Feeds = {}
    for (const [name, value] of Object.entries(out)) if (name !== "token_logps") saved[name] = value
    return { tokenLogps: values(out["token_logps"]), saved }
  })

/** log π(y|x) summed over completion tokens, per sequence. */
export const sequenceLogps = (
  sessions: OnnxSessions,
  model: HostModel,
  seqs: ReadonlyArray<Domain.Sequence>,
  padId: number,
  batchSize = 64
): Effect.Effect<Array<number>, OnnxError | InvalidInput> =>
  inBatches(seqs, batchSize, (part) =>
    Effect.gen(function*() {
      const batch = yield* makeHostBatch(part, padId, model.config.contextLength)
      return Array.from((yield* batchLogps(sessions, model, batch)).logps)
    }))

/** log π(y_t | x, y_<t) of each completion token, per sequence (no gradient). */
export const sequenceTokenLogps = (
  sessions: OnnxSessions,
  model: HostModel,
  seqs: ReadonlyArray<Domain.Sequence>,
  padId: number,
  batchSize = 64
): Effect.Effect<Array<Array<number>>, OnnxError | InvalidInput> =>
  inBatches(seqs, batchSize, (part) =>
    Effect.gen(function*() {
      const batch = yield* makeHostBatch(part, padId, model.config.contextLength)
      const { tokenLogps } = yield* batchLogps(sessions, model, batch)
      // completion token k of sequence b is predicted at position P_b − 1 + k
      return part.map((s, b) => {
        const from = b * (batch.T - 1) + s.promptTokenIds.length - 1
        return Array.from(tokenLogps.subarray(from, from + s.completionTokenIds.length))
      })
    }))

export interface SequenceStats {
  /** Σ over completion tokens of the exact KL(π ‖ π_ref) over the vocabulary. */
  readonly kl: number
  /** Σ over completion tokens of the policy's entropy. */
  readonly entropy: number
  /** log π(y|x) summed over completion tokens. */
  readonly logp: number
}

/** Sequence KL, entropy and log-prob of completions under `policy` against `reference` (one graph runs both). */
export const sequenceStats = (
  sessions: OnnxSessions,
  policy: HostModel,
  reference: HostModel,
  seqs: ReadonlyArray<Domain.Sequence>,
  padId: number,
  batchSize = 32
): Effect.Effect<Array<SequenceStats>, OnnxError | InvalidInput> =>
  inBatches(seqs, batchSize, (part) =>
    Effect.gen(function*() {
      const batch = yield* makeHostBatch(part, padId, Math.min(policy.config.contextLength, reference.config.contextLength))
      const out = yield* sessions.run("stats", policy.config, {
        ...weightFeeds(sessions.ort, policy),
        ...weightFeeds(sessions.ort, reference, REF_PREFIX),
        ...batchFeeds(sessions.ort, batch)
      })
      const [kl, entropy, logp] = [values(out["kl"]), values(out["entropy"]), values(out["logps"])]
      return Array.from(kl, (k, b) => ({ kl: k, entropy: entropy[b]!, logp: logp[b]! }))
    }))

/**
 * Every parameter's gradient of Σ upstream ⊙ token log-probs, by the model's parameter name (the VJP graph).
 * `saved` is trainingLogps's of the same weights and batch; absent, the train graph runs first.
 */
export const gradients = (
  sessions: OnnxSessions,
  model: HostModel,
  batch: HostBatch,
  upstream: Float32Array,
  saved?: Feeds
): Effect.Effect<Map<string, Float32Array>, OnnxError> =>
  Effect.gen(function*() {
    const forwardValues = saved ?? (yield* trainingLogps(sessions, model, batch)).saved
    const out = yield* sessions.run("vjp", model.config, {
      ...weightFeeds(sessions.ort, model),
      ...batchFeeds(sessions.ort, batch),
      upstream: new sessions.ort.Tensor("float32", upstream, [batch.B, batch.T - 1]),
      ...forwardValues
    })
    return new Map(parameterShapes(model.config).map(([name]) => [name, values(out[GRAD_PREFIX + name])]))
  })
