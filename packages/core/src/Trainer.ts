/** The Trainer service: turns preference data (or demonstrations) into a new policy checkpoint. */
import { Context, Effect, Layer } from "effect"
import { join } from "node:path"
import { fnv1a } from "./Seeds.ts"
import type { CheckpointRef, Sequence, TrainingPair, TrainingSample, TrainStepMetrics } from "./Domain.ts"
import type { CheckpointCorrupt, CheckpointNotFound, InvalidInput, NonFiniteLoss } from "./Errors.ts"
import type { LossConfig, SftConfig, TrainingConfig } from "./RunConfig.ts"

export interface TrainRequest {
  /** Start from this policy (π_r). */
  readonly policy: CheckpointRef
  /** The round's π_ref (KTO's z₀ needs it on mismatched pairs; pairwise losses use the cached log-probs). */
  readonly reference?: CheckpointRef
  /** The round's preference pairs with reference log-probs; each preference objective makes its items from them. */
  readonly pairs: ReadonlyArray<TrainingPair>
  /** The round's samples with their advantages: what the policy-gradient objectives (rloo, ppo_clip) train on. */
  readonly samples?: ReadonlyArray<TrainingSample>
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
  /**
   * Per step, the indices of the items it trained on: into `samples` for the policy-gradient
   * objectives, into `pairs` for pairwise losses (kto: its labelled examples, chosen and rejected of each pair).
   */
  readonly stepItems?: ReadonlyArray<ReadonlyArray<number>>
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
  /** One round of training: E epochs over the pairs (preference losses) or the samples (rloo, ppo_clip). */
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
}>()("@odpo/core/Trainer") {
  /**
   * A model-free trainer for testing the round loop: a "trained" checkpoint is a new id derived
   * from its inputs (so equal inputs give equal ids), one step per batch of items (pairs, or
   * samples for rloo / ppo_clip, in order) with loss ln 2, log π_ref(y|x) = −|y|, KL 0. Pair it
   * with Checkpoints.layerTest.
   */
  static readonly layerTest: Layer.Layer<Trainer> = Layer.succeed(Trainer, Trainer.of({
    train: (request) => {
      const n = request.samples?.length ?? request.pairs.length
      const perEpoch = Math.ceil(n / request.training.batchSize)
      const stepItems = Array.from({ length: request.training.epochs * perEpoch }, (_, step) => {
        const start = (step % perEpoch) * request.training.batchSize
        return Array.from({ length: Math.min(request.training.batchSize, n - start) }, (_, i) => start + i)
      })
      return Effect.succeed({
        checkpoint: testCheckpoint(request.checkpointRoot, request.policy.id, request.seed, n),
        steps: stepItems.map((_, step) => ({ step, epoch: Math.floor(step / perEpoch), metrics: { loss: Math.LN2 } })),
        stepItems
      })
    },
    sft: (request) =>
      Effect.succeed({ checkpoint: testCheckpoint(request.checkpointRoot, request.policy.id, request.seed, "sft"), steps: [] }),
    referenceLogps: (_reference, sequences) => Effect.succeed(sequences.map((s) => -s.completionTokenIds.length)),
    sequenceStats: (_policy, _reference, sequences) =>
      Effect.succeed(sequences.map((s) => ({ kl: 0, entropy: 1, logp: -s.completionTokenIds.length }))),
    emaReference: (policy, reference, alpha, root) => Effect.succeed(testCheckpoint(root, policy.id, reference.id, alpha))
  }))
}

/** A checkpoint ref named by a hash of its inputs (Trainer.layerTest, Checkpoints.layerTest). */
export const testCheckpoint = (root: string, ...parts: ReadonlyArray<string | number>): CheckpointRef => {
  const id = parts.reduce<string>((acc, p, i) => acc + fnv1a(`${i}\u0000${p}\u0000${acc}`).toString(16).padStart(8, "0"), "").padEnd(64, "0").slice(0, 64)
  return { id, path: join(root, id) }
}
