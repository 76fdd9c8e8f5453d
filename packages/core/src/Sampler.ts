/** The Sampler service: K completions per prompt from a policy checkpoint, as plain records. */
import { Context, type Effect } from "effect"
import type { CheckpointRef, Rollout, SamplingParams } from "./Domain.ts"
import type { CheckpointCorrupt, CheckpointNotFound, InvalidInput, OnnxError, TokenizerMismatch } from "./Errors.ts"

export interface SamplePrompt {
  readonly promptId: string
  /** Tokenized prompt, BOS first when the tokenizer has one. */
  readonly tokenIds: ReadonlyArray<number>
}

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
export type SamplerError = InvalidInput | CheckpointNotFound | CheckpointCorrupt | TokenizerMismatch | OnnxError

export class Sampler extends Context.Service<Sampler, {
  /** Rollouts ordered by prompt (request order) then sample index. */
  readonly sample: (request: SampleRequest) => Effect.Effect<ReadonlyArray<Rollout>, SamplerError>
}>()("@odpo/core/Sampler") {}
