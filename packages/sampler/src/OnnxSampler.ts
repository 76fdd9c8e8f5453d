/**
 * The Sampler service on onnxruntime: the policy's weights are read from its checkpoint (the last
 * few kept on the host), and sampled by the onnx engine with the same RowDecoder, processors and
 * seeded draws as tfjs. The layer's sessions are released when its scope closes.
 */
import { Errors, Sampler } from "@odpo/core"
import { Checkpoint, Onnx } from "@odpo/model"
import { Effect, Layer, type Scope } from "effect"
import * as OnnxEngine from "./OnnxEngine.ts"
import { sampleWith, type SamplingOptions } from "./Sampling.ts"

export interface OnnxSamplerOptions extends SamplingOptions {
  readonly onnx: Onnx.OnnxSessions.OnnxOptions
}

/** Checkpoints kept loaded: a round samples from the policy and evaluates it against the reference. */
const KEEP = 4

/**
 * A checkpoint's weights, checked for the exporter; the `keep` most recently used stay loaded.
 * A checkpoint the exporter cannot take is CheckpointCorrupt naming the field.
 */
export const hostModels = (keep = KEEP) => {
  const loaded = new Map<string, Checkpoint.CheckpointWeights>()
  return (ref: { readonly id: string; readonly path: string }) =>
    Effect.gen(function*() {
      const hit = loaded.get(ref.id)
      if (hit) {
        loaded.delete(ref.id)
        loaded.set(ref.id, hit)
        return hit
      }
      const read = yield* Checkpoint.readCheckpointWeights(ref.path)
      if (read.ref.id !== ref.id) {
        return yield* new Errors.CheckpointCorrupt({ path: ref.path, message: `checkpoint ${ref.path} has id ${read.ref.id}, not the ${ref.id} that was asked for: the ref points at the wrong directory` })
      }
      yield* Onnx.OnnxPolicy.checkModel(read, "inference").pipe(
        Effect.mapError((e) => new Errors.CheckpointCorrupt({ path: ref.path, message: `${ref.path}: ${e.message}` }))
      )
      loaded.set(ref.id, read)
      for (const id of loaded.keys()) {
        if (loaded.size <= keep) break
        loaded.delete(id)
      }
      return read
    })
}

/** The service over a session pool that lives as long as the enclosing scope. */
export const make = (options: OnnxSamplerOptions): Effect.Effect<Sampler.Sampler["Service"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const pool = yield* Onnx.OnnxSessions.make(options.onnx)
    const load = hostModels()
    return Sampler.Sampler.of({
      sample: Effect.fn("Sampler.sample")(function*(request: Sampler.SampleRequest) {
        const policy = yield* load(request.policy)
        const sessions = { prefill: yield* pool.session("prefill", policy.config), decode: yield* pool.session("decode", policy.config) }
        const engine = OnnxEngine.make(policy, sessions, policy.tokenizer)
        return yield* sampleWith(engine, policy.ref.id, request, options)
      })
    })
  })

/** `Sampler` on onnxruntime (provider and threads from the run's engine config). */
export const layer = (options: OnnxSamplerOptions): Layer.Layer<Sampler.Sampler> => Layer.effect(Sampler.Sampler, make(options))
