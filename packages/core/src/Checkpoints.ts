/**
 * The Checkpoints service: what the round loop needs of policy checkpoints — a fresh initial
 * policy, and what a checkpoint directory holds — without knowing which engine reads them.
 */
import { Context, type Effect } from "effect"
import type { CheckpointRef } from "./Domain.ts"
import type { CheckpointCorrupt, CheckpointNotFound, TokenizerMismatch } from "./Errors.ts"
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
}>()("@odpo/core/Checkpoints") {}
