/** The Trainer service: turns preference data (or demonstrations) into a new policy checkpoint. */
import { Context, type Effect } from "effect"
import type { CheckpointRef, Sequence, TrainingPair, TrainStepMetrics } from "./Domain.ts"
import type { CheckpointCorrupt, CheckpointNotFound, InvalidInput, NonFiniteLoss } from "./Errors.ts"
import type { LossConfig, SftConfig, TrainingConfig } from "./RunConfig.ts"

export interface TrainRequest {
  /** Start from this policy (π_r). */
  readonly policy: CheckpointRef
  /** The round's π_ref (KTO's z₀ needs it on mismatched pairs; pairwise losses use the cached log-probs). */
  readonly reference?: CheckpointRef
  /** The round's preference pairs with reference log-probs; each objective makes its items from them. */
  readonly pairs: ReadonlyArray<TrainingPair>
  /** The loss, which picks the objective (optimizer's objectives table). */
  readonly loss: LossConfig
  readonly training: TrainingConfig
  /** Seeds shuffling and dropout. */
  readonly seed: number
  /** Checkpoint root: the new checkpoint goes to <root>/<sha256>. */
  readonly checkpointRoot: string
  readonly label?: string
}

export interface TrainResult {
  readonly checkpoint: CheckpointRef
  readonly steps: ReadonlyArray<TrainStepMetrics>
}

export interface SftRequest {
  readonly policy: CheckpointRef
  readonly demonstrations: ReadonlyArray<Sequence>
  readonly sft: SftConfig
  readonly seed: number
  readonly checkpointRoot: string
  readonly label?: string
}

export interface SequenceStats {
  /** Σ over completion tokens of the exact KL(π ‖ π_ref) over the vocabulary. */
  readonly kl: number
  /** Σ over completion tokens of the policy's entropy. */
  readonly entropy: number
  /** log π(y|x) summed over completion tokens. */
  readonly logp: number
}

export type TrainerError = InvalidInput | NonFiniteLoss | CheckpointNotFound | CheckpointCorrupt

export class Trainer extends Context.Service<Trainer, {
  /** One round of preference optimisation (E epochs over the pairs). */
  readonly train: (request: TrainRequest) => Effect.Effect<TrainResult, TrainerError>
  /** Supervised fine-tuning on demonstrations (prompt masked): how π₀ is made. */
  readonly sft: (request: SftRequest) => Effect.Effect<TrainResult, TrainerError>
  /** log π_ref(y|x) per sequence, cached by (checkpoint id, token ids). */
  readonly referenceLogps: (reference: CheckpointRef, sequences: ReadonlyArray<Sequence>) => Effect.Effect<ReadonlyArray<number>, TrainerError>
  /** Sequence KL, entropy and log-prob of completions under policy vs reference. */
  readonly sequenceStats: (
    policy: CheckpointRef,
    reference: CheckpointRef,
    sequences: ReadonlyArray<Sequence>
  ) => Effect.Effect<ReadonlyArray<SequenceStats>, TrainerError>
  /** TR-DPO soft update: new ref = α·policy + (1−α)·ref, written as a checkpoint. */
  readonly emaReference: (
    policy: CheckpointRef,
    reference: CheckpointRef,
    alpha: number,
    checkpointRoot: string
  ) => Effect.Effect<CheckpointRef, TrainerError>
}>()("@odpo/core/Trainer") {}
