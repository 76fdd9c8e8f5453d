/**
 * The Sampler service on tfjs: borrows the policy from LoadedModels (loaded once per command),
 * then samples with the tfjs engine. Every rollout's
 * tokenLogprobs are log-probs under the raw policy (logSoftmax of the logits, temperature 1, no
 * truncation), whatever the sampling parameters: what DPO and the KL estimate need.
 */
import { Sampler } from "@odpo/core"
import { LoadedModels } from "@odpo/model"
import { Effect, Layer } from "effect"
import { sampleWith, type SamplingOptions } from "./Sampling.ts"
import * as TfjsEngine from "./TfjsEngine.ts"

export interface TfjsSamplerOptions extends SamplingOptions, TfjsEngine.TfjsEngineOptions {}

/** The service, with options (batch rows, KV cache). */
export const make = (options: TfjsSamplerOptions = {}) =>
  Effect.gen(function*() {
    const models = yield* LoadedModels.LoadedModels
    return Sampler.Sampler.of({
      sample: Effect.fn("Sampler.sample")(function*(request: Sampler.SampleRequest) {
        // LoadedModels owns the model: the engine borrows it and never disposes it.
        const policy = yield* models.load(request.policy)
        const engine = TfjsEngine.make(policy.model, policy.tokenizer, options)
        return yield* sampleWith(engine, policy.ref.id, request, options)
      })
    })
  })

/** `Sampler` on tfjs with default options (256 rows per batch, KV cache on). */
export const layer: Layer.Layer<Sampler.Sampler, never, LoadedModels.LoadedModels> = Layer.effect(Sampler.Sampler, make())

/** `Sampler` on tfjs with chosen options. */
export const layerOptions = (options: TfjsSamplerOptions): Layer.Layer<Sampler.Sampler, never, LoadedModels.LoadedModels> =>
  Layer.effect(Sampler.Sampler, make(options))
