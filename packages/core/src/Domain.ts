/** The records that flow between stages: plain, serialisable, one schema each. */
import { Schema } from "effect"

/** A checkpoint as the stages pass it around: its SHA-256 id and its directory. */
export const CheckpointRef = Schema.Struct({
  id: Schema.String,
  path: Schema.String
})
export type CheckpointRef = typeof CheckpointRef.Type

/** A prompt of a task split, already tokenized (BOS included when the tokenizer has one). */
export const Prompt = Schema.Struct({
  promptId: Schema.String,
  task: Schema.String,
  split: Schema.Literals(["train", "heldout"]),
  text: Schema.String,
  tokenIds: Schema.Array(Schema.Int)
})
export type Prompt = typeof Prompt.Type

export const FinishReason = Schema.Literals(["eos", "length", "stop"])
export type FinishReason = typeof FinishReason.Type

/** The sampling parameters recorded with every rollout. topK 0 = off, topP 1 = off, minP 0 = off. */
export const SamplingParams = Schema.Struct({
  temperature: Schema.Number,
  topK: Schema.Int,
  topP: Schema.Number,
  minP: Schema.Number,
  repetitionPenalty: Schema.Number,
  maxNewTokens: Schema.Int,
  stop: Schema.Array(Schema.String)
})
export type SamplingParams = typeof SamplingParams.Type

/**
 * One sampled completion. `tokenLogprobs` are log-probs of the *unprocessed* distribution
 * (temperature 1, no truncation) of the sampling policy: what DPO and KL need.
 * `tokenIds` include the EOS token when finishReason is "eos".
 */
export const Rollout = Schema.Struct({
  promptId: Schema.String,
  sampleIdx: Schema.Int,
  tokenIds: Schema.Array(Schema.Int),
  text: Schema.String,
  tokenLogprobs: Schema.Array(Schema.Number),
  logprobSum: Schema.Number,
  length: Schema.Int,
  finishReason: FinishReason,
  params: SamplingParams,
  seed: Schema.Int,
  policyCkpt: Schema.String
})
export type Rollout = typeof Rollout.Type

/** A rollout as stored: with its id, run and round. */
export interface StoredRollout extends Rollout {
  readonly rolloutId: string
  readonly runId: string
  readonly round: number
}

/** What a scorer is given for one completion. */
export const ScoreItem = Schema.Struct({
  promptId: Schema.String,
  promptText: Schema.String,
  completionText: Schema.String,
  completionTokenIds: Schema.Array(Schema.Int),
  finishReason: FinishReason,
  /** The prompt as the user's file holds it (text, or a chat's messages); absent for a built-in task. */
  prompt: Schema.optionalKey(Schema.Unknown),
  /** The prompt row's other columns (e.g. ground_truth), handed to the reward; absent for a built-in task. */
  columns: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
  /** Names the rollout in error messages (a reward that is missing or not finite). */
  rolloutId: Schema.optionalKey(Schema.String)
})
export type ScoreItem = typeof ScoreItem.Type

/** A reward for one completion; goldReward is null when the task has none. */
export interface Score {
  readonly reward: number
  readonly goldReward: number | null
}

/** A preference pair over stored rollouts, with reference log-probs once computed. */
export interface PreferencePair {
  readonly pairId: string
  readonly runId: string
  readonly round: number
  readonly promptId: string
  readonly chosenId: string
  readonly rejectedId: string
  readonly margin: number
  readonly strategy: string
  readonly refChosenLogp: number | null
  readonly refRejectedLogp: number | null
  /** Label noise swapped chosen and rejected (pairing.flipRate); absent = false. */
  readonly flipped?: boolean
}

/** Token ids for one side of a training example: prompt (masked) + completion (trained). */
export interface Sequence {
  readonly promptTokenIds: ReadonlyArray<number>
  readonly completionTokenIds: ReadonlyArray<number>
}

/** A pair as the trainer sees it. */
export interface TrainingPair {
  readonly chosen: Sequence
  readonly rejected: Sequence
  readonly refChosenLogp: number
  readonly refRejectedLogp: number
}

/** A sampled completion as a policy-gradient objective (rloo, ppo_clip) trains on it. */
export interface TrainingSample {
  readonly sequence: Sequence
  /** Its leave-one-out advantage (Advantages.ts), fixed for the round. */
  readonly advantage: number
  /** log π_old per completion token: the rollout's recorded (temperature-1) token log-probs. */
  readonly oldTokenLogprobs: ReadonlyArray<number>
  /** reward − β·KL, reported as objective/rlhf_reward. */
  readonly rlhfReward: number
}

/** A pointwise example for KTO: desirable (true) or not. */
export interface LabelledExample {
  readonly sequence: Sequence
  readonly desirable: boolean
  readonly refLogp: number
}

/** One optimizer step's metrics, named as TRL names them. */
export interface TrainStepMetrics {
  readonly step: number
  readonly epoch: number
  readonly metrics: Readonly<Record<string, number>>
}

/** Per-round evaluation on a split; metric names as in DESIGN.md (eval/reward, objective/kl…). */
export interface EvalRecord {
  readonly runId: string
  readonly round: number
  readonly split: string
  readonly metrics: Readonly<Record<string, number>>
}
