/**
 * The reference policy's side of training: log π_ref per sequence, computed once per (checkpoint,
 * token ids) and remembered by a cache that lives as long as the Trainer layer that made it; and
 * the TR-DPO soft update of the reference.
 */
import { type Domain, Errors } from "@odpo/core"
import { Architectures, Checkpoint, type LoadedModels, type PolicyEngine } from "@odpo/model"
import { Effect } from "effect"
import { checkSequences } from "./TrainingChecks.ts"

/** Checkpoint errors as the Trainer reports them (a tokenizer that does not fit is a corrupt checkpoint). */
export const loadWith = (models: LoadedModels.LoadedModels["Service"]) => (ref: Domain.CheckpointRef) =>
  models.load(ref).pipe(
    Effect.catchTag("TokenizerMismatch", (e) => Effect.fail(new Errors.CheckpointCorrupt({ path: ref.path, message: e.message, cause: e })))
  )

/** (checkpoint id, prompt ids, completion ids) → log π_ref(y|x); bounded, the oldest entries go first. */
export const makeReferenceCache = (
  engine: PolicyEngine.PolicyEngine,
  models: LoadedModels.LoadedModels["Service"],
  limit = 1_000_000
) => {
  const cache = new Map<string, number>()
  const load = loadWith(models)
  const keyOf = (id: string, s: Domain.Sequence) => `${id}|${s.promptTokenIds.join(",")}|${s.completionTokenIds.join(",")}`

  /** log π_ref(y|x) summed over completion tokens, per sequence; only sequences not seen before are computed. */
  const referenceLogps = Effect.fn("Trainer.referenceLogps")(function*(reference: Domain.CheckpointRef, sequences: ReadonlyArray<Domain.Sequence>) {
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
      const values = yield* engine.sequenceLogps(loaded.model, todo, loaded.tokenizer.padId)
      missing.forEach((i, j) => cache.set(keys[i]!, values[j]!))
      for (const k of cache.keys()) {
        if (cache.size <= limit) break
        cache.delete(k)
      }
    }
    return keys.map((k) => cache.get(k)!)
  })

  return { referenceLogps, size: () => cache.size }
}

/** log π_ref of each completion token, per sequence (not cached: a policy-gradient round asks once). */
export const tokenLogpsWith = (engine: PolicyEngine.PolicyEngine, models: LoadedModels.LoadedModels["Service"]) =>
  Effect.fn("Trainer.referenceTokenLogps")(function*(reference: Domain.CheckpointRef, sequences: ReadonlyArray<Domain.Sequence>) {
    const loaded = yield* loadWith(models)(reference)
    yield* checkSequences(sequences, loaded.config, (i) => `sequences[${i}]`)
    return yield* engine.tokenLogps(loaded.model, sequences, loaded.tokenizer.padId)
  })

/**
 * Per sequence: Σ over completion tokens of the exact KL(π ‖ π_ref) over the vocabulary, Σ of the
 * policy's entropy, and log π(y|x).
 */
export const sequenceStatsWith = (engine: PolicyEngine.PolicyEngine, models: LoadedModels.LoadedModels["Service"]) =>
  Effect.fn("Trainer.sequenceStats")(function*(
    policy: Domain.CheckpointRef,
    reference: Domain.CheckpointRef,
    sequences: ReadonlyArray<Domain.Sequence>
  ) {
    const load = loadWith(models)
    const p = yield* load(policy)
    const q = yield* load(reference)
    if (p.config.vocabSize !== q.config.vocabSize) {
      return yield* new Errors.InvalidInput({
        message: `policy ${policy.path} has a vocabulary of ${p.config.vocabSize} but reference ${reference.path} has ${q.config.vocabSize}: they must share a tokenizer`
      })
    }
    yield* checkSequences(sequences, { ...p.config, contextLength: Math.min(p.config.contextLength, q.config.contextLength) }, (i) => `sequences[${i}]`)
    return yield* engine.sequenceStats(p.model, q.model, sequences, p.tokenizer.padId)
  })

/** TR-DPO soft update: new reference = α·policy + (1 − α)·reference, written as a checkpoint under `root`. */
export const emaReferenceWith = (models: LoadedModels.LoadedModels["Service"]) =>
  Effect.fn("Trainer.emaReference")(function*(
    policy: Domain.CheckpointRef,
    reference: Domain.CheckpointRef,
    alpha: number,
    root: string
  ) {
    if (!(alpha >= 0 && alpha <= 1)) {
      return yield* new Errors.InvalidInput({ message: `reference.alpha must be in [0, 1] (got ${alpha})` })
    }
    const load = loadWith(models)
    const p = yield* load(policy)
    const q = yield* load(reference)
    const same = (["vocabSize", "contextLength", "dModel", "nLayers", "nHeads"] as const).every((k) => p.config[k] === q.config[k])
    if (!same) {
      return yield* new Errors.InvalidInput({
        message: `emaReference: policy ${policy.path} and reference ${reference.path} have different shapes; a soft update needs the same model config`
      })
    }
    const [pw, qw] = yield* Effect.promise(() => Promise.all([p.model.weights(), q.model.weights()]))
    const mixed = new Map<string, Float32Array>()
    for (const [name, a] of pw) {
      const b = qw.get(name)!
      const out = new Float32Array(a.length)
      for (let i = 0; i < a.length; i++) out[i] = alpha * a[i]! + (1 - alpha) * b[i]!
      mixed.set(name, out)
    }
    return yield* Effect.acquireUseRelease(
      Effect.sync(() => Architectures.build(p.config, mixed)),
      (model) => Checkpoint.saveCheckpoint(root, model, p.tokenizer, { meta: { kind: "ema_reference", alpha, policy: policy.id, reference: reference.id } }),
      (model) => Effect.sync(() => model.dispose())
    )
  })
