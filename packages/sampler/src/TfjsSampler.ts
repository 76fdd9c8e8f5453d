/**
 * The Sampler service on tfjs: loads the policy checkpoint (once per process, via
 * Checkpoint.loadCheckpointCached), then samples with the tfjs engine. Every rollout's
 * tokenLogprobs are log-probs under the raw policy (logSoftmax of the logits, temperature 1, no
 * truncation), whatever the sampling parameters: what DPO and the KL estimate need.
 */
import { Sampler } from "@odpo/core"
import { Checkpoint } from "@odpo/model"
import { Effect, Layer } from "effect"
import { sampleWith, type SamplingOptions } from "./Sampling.ts"
import * as TfjsEngine from "./TfjsEngine.ts"

export interface TfjsSamplerOptions extends SamplingOptions, TfjsEngine.TfjsEngineOptions {}

/** The service, with options (batch rows, KV cache). */
export const make = (options: TfjsSamplerOptions = {}): Sampler.Sampler["Service"] =>
  Sampler.Sampler.of({
    sample: Effect.fn("Sampler.sample")(function*(request: Sampler.SampleRequest) {
      const policy = yield* Checkpoint.loadCheckpointCached(request.policy)
      // The cache owns the model: the engine borrows it and never disposes it.
      const engine = TfjsEngine.make(policy.model, policy.tokenizer, options)
      return yield* sampleWith(engine, policy.ref.id, request, options)
    })
  })

/** `Sampler` on tfjs with default options (256 rows per batch, KV cache on). */
export const layer: Layer.Layer<Sampler.Sampler> = Layer.effect(Sampler.Sampler, Effect.sync(() => make()))

/** `Sampler` on tfjs with chosen options. */
export const layerOptions = (options: TfjsSamplerOptions): Layer.Layer<Sampler.Sampler> =>
  Layer.effect(Sampler.Sampler, Effect.sync(() => make(options)))
