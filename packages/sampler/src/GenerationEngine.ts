/**
 * What a generation engine is: plain records in (rows to complete + sampling parameters), plain
 * records out (tokens, raw-policy log-probs, finish reason). The tfjs engine is TfjsEngine.ts; an
 * onnxruntime engine implements the same interface (its per-row logic is RowDecoder.ts).
 */
import type { Domain } from "@odpo/core"
import type { Effect } from "effect"

/** One completion to generate. */
export interface GenerationRow {
  readonly promptId: string
  readonly sampleIdx: number
  /** The tokenized prompt (BOS first when the tokenizer has one); at most contextLength − 1 tokens. */
  readonly promptTokenIds: ReadonlyArray<number>
  /** Seed of this row's own PRNG stream (Seeds.rowSeed(seed, promptId, sampleIdx), in core). */
  readonly rngSeed: number
}

export interface GenerationBatch {
  readonly rows: ReadonlyArray<GenerationRow>
  readonly params: Domain.SamplingParams
}

export interface GeneratedRow {
  readonly promptId: string
  readonly sampleIdx: number
  /** Sampled ids; EOS included when finishReason is "eos"; every sampled id when "stop". */
  readonly tokenIds: ReadonlyArray<number>
  /** Decoded completion, special tokens dropped; cut before the stop string when finishReason is "stop". */
  readonly text: string
  /** log π(token | prefix) under the raw policy (temperature 1, no truncation), one per token id. */
  readonly tokenLogprobs: ReadonlyArray<number>
  readonly finishReason: Domain.FinishReason
}

export interface GenerationEngine {
  /** e.g. "tfjs", "onnxruntime". */
  readonly name: string
  readonly contextLength: number
  readonly vocabSize: number
  /** Rows out in the order they came in; each row's tokens do not depend on the others. */
  readonly generate: (batch: GenerationBatch) => Effect.Effect<ReadonlyArray<GeneratedRow>>
}
