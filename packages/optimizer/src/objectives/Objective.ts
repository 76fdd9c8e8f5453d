/**
 * What a training objective is: the policy sequences a micro-batch of items feeds the engine, and
 * the loss of those items as a pure function of the sequences' log-probs. Written on log-probs
 * (not on a model), an objective runs unchanged on every engine: tfjs differentiates through the
 * GPT, onnxruntime through its VJP graph. Each objective closes over its own loss config.
 */
import type { Domain, Errors, Trainer } from "@odpo/core"
import type { PolicyEngine } from "@odpo/model"
import type * as tf from "@tensorflow/tfjs-core"
import type { Effect } from "effect"

/** Where a micro-batch's metrics go: Σ over its items (a tensor, read once per step, or a number) and how many items. */
export interface MetricSink {
  readonly add: (name: string, sum: tf.Tensor | number, count: number) => void
}

export interface Objective<Item> {
  /** The policy sequences of a micro-batch, in the order `lossSum` reads their log-probs. */
  readonly sequences: (items: ReadonlyArray<Item>) => ReadonlyArray<Domain.Sequence>
  /** Σ over the micro-batch of each item's loss, from the log-probs of `sequences(items)` (the trainer divides by the step's item count). */
  readonly lossSum: (items: ReadonlyArray<Item>, logps: PolicyEngine.SequenceLogps, metrics: MetricSink) => tf.Scalar
}

/** What an objective may ask of the round while it turns the round's data into items. */
export interface RoundEnv {
  /** The policy's context length and vocabulary (every sequence must fit). */
  readonly contextLength: number
  readonly vocabSize: number
  /** log π_ref(y|x) of sequences under the round's reference (cached). */
  readonly referenceLogps: (seqs: ReadonlyArray<Domain.Sequence>) => Effect.Effect<ReadonlyArray<number>, Trainer.TrainerError>
  /** log π_ref of each completion token of sequences under the round's reference. */
  readonly referenceTokenLogps: (seqs: ReadonlyArray<Domain.Sequence>) => Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, Trainer.TrainerError>
}

/** A round's training data: its pairs (preference losses) and its samples with advantages (rloo, ppo_clip). */
export interface RoundData {
  readonly pairs: ReadonlyArray<Domain.TrainingPair>
  readonly samples: ReadonlyArray<Domain.TrainingSample>
}

/** An objective of a round: the round's data → its training items, and their loss. */
export interface RoundObjective<Item> extends Objective<Item> {
  readonly items: (data: RoundData, env: RoundEnv) => Effect.Effect<ReadonlyArray<Item>, Errors.InvalidInput | Trainer.TrainerError>
}
