/**
 * The Checkpoints service: what the round loop needs of policy checkpoints — a fresh initial
 * policy, and what a checkpoint directory holds — without knowing which engine reads them.
 */
import { Context, Effect, Layer } from "effect"
import { basename } from "node:path"
import { testCheckpoint } from "./Trainer.ts"
import type { CheckpointRef } from "./Domain.ts"
import { type CheckpointCorrupt, CheckpointNotFound, type TokenizerMismatch } from "./Errors.ts"
import type { ModelConfig } from "./RunConfig.ts"
import type { Tokenizer } from "./Tokenizer.ts"

/** A checkpoint's id and directory, its model shape and size, and its tokenizer's vocabulary. */
export interface CheckpointInfo {
  readonly ref: CheckpointRef
  readonly model: ModelConfig
  readonly nParams: number
  readonly tokenizerVocabSize: number
}

export type CheckpointError = CheckpointNotFound | CheckpointCorrupt | TokenizerMismatch

export class Checkpoints extends Context.Service<Checkpoints, {
  /** A GPT-2-initialised policy of `model`'s shape (seeded), written under `root`. */
  readonly initialize: (model: ModelConfig, tokenizer: Tokenizer, seed: number, root: string) => Effect.Effect<CheckpointRef, CheckpointError>
  /** A checkpoint directory's config and tokenizer (cheap: the weights are not read). */
  readonly describe: (path: string) => Effect.Effect<CheckpointInfo, CheckpointError>
  /** As `describe`, after verifying the weights' SHA-256 and that the tokenizer fits the model. */
  readonly verify: (path: string) => Effect.Effect<CheckpointInfo, CheckpointError>
  /**
   * A policy directory a user named (policy.init): as `verify` for an odpo checkpoint; a directory
   * of another format the engine can read (a Hugging Face GPT-2) is converted once into `root`.
   */
  readonly importPolicy: (path: string, root: string) => Effect.Effect<CheckpointInfo, CheckpointError>
  /** The tokenizer of a checkpoint or Hugging Face directory, or of a tokenizer.json file (tokenizer_config.json beside it read too). */
  readonly tokenizer: (path: string) => Effect.Effect<Tokenizer, CheckpointError>
}>()("@odpo/core/Checkpoints") {
  /** Checkpoints without files, for testing the round loop: every directory "holds" a 2-parameter model. */
  static readonly layerTest: Layer.Layer<Checkpoints> = Layer.succeed(Checkpoints, Checkpoints.of({
    initialize: (model, _tokenizer, seed, root) => Effect.succeed(testCheckpoint(root, "init", model.dModel, seed)),
    describe: (path) => Effect.succeed(testInfo(path)),
    verify: (path) => Effect.succeed(testInfo(path)),
    importPolicy: (path) => Effect.succeed(testInfo(path)),
    tokenizer: (path) => Effect.fail(new CheckpointNotFound({ path, message: `test checkpoints hold no tokenizer (${path})` }))
  }))
}

const testInfo = (path: string): CheckpointInfo => ({
  ref: { id: basename(path), path },
  model: { vocabSize: 0, contextLength: 0, dModel: 0, nLayers: 0, nHeads: 0, dropout: 0 },
  nParams: 2,
  tokenizerVocabSize: 0
})
