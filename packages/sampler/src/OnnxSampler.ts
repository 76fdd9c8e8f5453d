/**
 * The Sampler service on onnxruntime: borrows the policy from LoadedModels, and samples it with the
 * onnx engine — the same RowDecoder, processors and seeded draws as tfjs — on the command's
 * session pool (OnnxSessionPool).
 */
import { Errors, Sampler } from "@odpo/core"
import { LoadedModels, Onnx } from "@odpo/model"
import { Effect, Layer } from "effect"
import * as OnnxEngine from "./OnnxEngine.ts"
import { sampleWith, type SamplingOptions } from "./Sampling.ts"

/** The service, with sampling options (rows per batch). */
export const make = (options: SamplingOptions = {}) =>
  Effect.gen(function*() {
    const models = yield* LoadedModels.LoadedModels
    const pool = yield* Onnx.OnnxSessions.OnnxSessionPool
    return Sampler.Sampler.of({
      sample: Effect.fn("Sampler.sample")(function*(request: Sampler.SampleRequest) {
        const policy = yield* models.load(request.policy)
        const model = yield* Onnx.OnnxPolicy.hostModelOf(policy.model)
        // A checkpoint the exporter cannot take names its field (the loader has checked its shapes already).
        yield* Onnx.OnnxPolicy.checkModel(model, "inference").pipe(
          Effect.mapError((e) => new Errors.CheckpointCorrupt({ path: request.policy.path, message: `${request.policy.path}: ${e.message}` }))
        )
        const sessions = yield* OnnxEngine.decodeSessions(pool, model.config)
        return yield* sampleWith(OnnxEngine.make(model, sessions, policy.tokenizer), policy.ref.id, request, options)
      })
    })
  })

/** `Sampler` on onnxruntime: needs LoadedModels and the session pool (provider and threads come with the pool). */
export const layer: Layer.Layer<Sampler.Sampler, never, LoadedModels.LoadedModels | Onnx.OnnxSessions.OnnxSessionPool> = Layer.effect(
  Sampler.Sampler,
  make()
)

/** `Sampler` on onnxruntime with chosen sampling options. */
export const layerOptions = (options: SamplingOptions) => Layer.effect(Sampler.Sampler, make(options))
