/** The Sampler service: K completions per prompt from a policy checkpoint, as plain records. */
import { Context, Effect, Layer, Schema } from "effect"
import { fnv1a, rowSeed } from "./Seeds.ts"
import type { CheckpointRef, Rollout, SamplingParams } from "./Domain.ts"
import type { CheckpointCorrupt, CheckpointNotFound, ClusterUnavailable, InvalidInput, OnnxError, TokenizerMismatch, WorkerRefused } from "./Errors.ts"

export const SamplePrompt = Schema.Struct({
  promptId: Schema.String,
  /** Tokenized prompt, BOS first when the tokenizer has one. */
  tokenIds: Schema.Array(Schema.Int)
})
export type SamplePrompt = typeof SamplePrompt.Type

export interface SampleRequest {
  readonly policy: CheckpointRef
  readonly prompts: ReadonlyArray<SamplePrompt>
  /** Completions per prompt (K ≥ 1). */
  readonly n: number
  readonly params: SamplingParams
  /** Rollout (prompt i, sample j) draws from a stream seeded by (seed, promptId, j): batch size never matters. */
  readonly seed: number
  /** Progress label, e.g. "round 2 · sample". */
  readonly label?: string
}

/** OnnxError: the onnx engine's runtime failed (a session that would not load or run). */
export type SamplerError = InvalidInput | CheckpointNotFound | CheckpointCorrupt | TokenizerMismatch | OnnxError | WorkerRefused | ClusterUnavailable

export class Sampler extends Context.Service<Sampler, {
  /** Rollouts ordered by prompt (request order) then sample index. */
  readonly sample: (request: SampleRequest) => Effect.Effect<ReadonlyArray<Rollout>, SamplerError>
}>()("@odpo/core/Sampler") {
  /**
   * A model-free sampler for testing the round loop: each row draws 1–3 token ids in 3…12 from its
   * own seeded stream (so equal seeds give equal rows), log-prob −1 per token, EOS-terminated.
   */
  static readonly layerTest: Layer.Layer<Sampler> = Layer.succeed(Sampler, Sampler.of({
    sample: (request) =>
      Effect.sync(() =>
        request.prompts.flatMap((p) =>
          Array.from({ length: request.n }, (_, j): Rollout => {
            const h = rowSeed(request.seed, p.promptId, j) ^ fnv1a(request.policy.id)
            const tokenIds = Array.from({ length: 1 + (h % 3) }, (_, t) => 3 + ((h >>> (4 * t + 2)) % 10))
            return {
              promptId: p.promptId, sampleIdx: j, tokenIds, text: tokenIds.join(" "), tokenLogprobs: tokenIds.map(() => -1),
              logprobSum: -tokenIds.length, length: tokenIds.length, finishReason: "eos", params: request.params,
              seed: request.seed, policyCkpt: request.policy.id
            }
          })
        )
      )
  }))
}
