/**
 * The run store's records as Schemas: a round's stages, and each table's row as RunStore returns
 * it, with the DuckDB column each field is read from. A leaf: RunStore and its internal/store
 * helpers import it, and it imports only the domain schemas.
 */
import { Schema, SchemaGetter } from "effect"
import { FinishReason, Prompt } from "./Domain.ts"
import type { EvalRecord, PreferencePair, StoredRollout, TrainStepMetrics } from "./Domain.ts"

/**
 * Stages of a round in order; rounds.stage holds the last one finished. A preference round makes
 * "pairs", a policy-gradient round (rloo, ppo_clip) "advantages" instead: each skips the other.
 */
export const stages = ["started", "rollouts", "scores", "pairs", "advantages", "train", "eval"] as const
export const Stage = Schema.Literals(stages)
export type Stage = typeof Stage.Type

export const RunStatus = Schema.Literals(["running", "finished", "failed"])
export type RunStatus = typeof RunStatus.Type

/** Purpose of a rollout: a round's training samples, or evaluation samples of policy / reference. */
export const RolloutPurpose = Schema.Literals(["train", "eval", "eval_ref"])
export type RolloutPurpose = typeof RolloutPurpose.Type

// DuckDB hands integers back as numbers (decode.ts makes safe bigints numbers) and JSON columns as text.
const JsonText = Schema.Unknown.pipe(Schema.decodeTo(Schema.Unknown, {
  decode: SchemaGetter.transform((text: unknown) => (typeof text === "string" ? JSON.parse(text) as unknown : text)),
  encode: SchemaGetter.transform((value: unknown) => JSON.stringify(value))
}))
/** A column that is NULL until a later stage sets it, read as "". */
const NullAsEmpty = Schema.NullOr(Schema.String).pipe(Schema.decodeTo(Schema.String, {
  decode: SchemaGetter.transform((v: string | null) => v ?? ""),
  encode: SchemaGetter.transform((v: string) => v)
}))
const Nullable = <S extends Schema.Top>(s: S) => Schema.NullOr(s)

export const RunRow = Schema.Struct({
  runId: Schema.String,
  name: Schema.String,
  experiment: Schema.String,
  /** The decoded RunConfig, as JSON. */
  config: JsonText,
  seed: Schema.Number,
  pairSource: Schema.String,
  loss: Schema.String,
  beta: Schema.Number,
  status: RunStatus,
  createdAt: Schema.String,
  codeVersion: Schema.String,
  /** The engine the run last started or resumed on (null before migration 3's runs). */
  backend: Nullable(Schema.String),
  device: Nullable(Schema.String)
})
export type RunRow = typeof RunRow.Type

export const RoundRow = Schema.Struct({
  runId: Schema.String,
  round: Schema.Number,
  /** Policy this round samples from / trains (π_{r−1}); "" until the round's "started" write sets it. */
  policyCkpt: NullAsEmpty,
  refCkpt: NullAsEmpty,
  /** Policy produced by this round's training (null until trained). */
  outputCkpt: Nullable(Schema.String),
  stage: Stage,
  startedAt: Schema.String,
  finishedAt: Nullable(Schema.String)
})
export type RoundRow = typeof RoundRow.Type

export const CheckpointRow = Schema.Struct({
  ckptId: Schema.String,
  path: Schema.String,
  parent: Nullable(Schema.String),
  runId: Schema.String,
  round: Schema.Number,
  nParams: Schema.Number
})
export type CheckpointRow = typeof CheckpointRow.Type

export const ScoreRow = Schema.Struct({
  rolloutId: Schema.String,
  source: Schema.String,
  reward: Schema.Number,
  goldReward: Nullable(Schema.Number)
})
export type ScoreRow = typeof ScoreRow.Type

export const PairRow = Schema.Struct({
  pairId: Schema.String,
  runId: Schema.String,
  round: Schema.Number,
  promptId: Schema.String,
  chosenId: Schema.String,
  rejectedId: Schema.String,
  margin: Schema.Number,
  strategy: Schema.String,
  refChosenLogp: Nullable(Schema.Number),
  refRejectedLogp: Nullable(Schema.Number),
  /** Label noise swapped chosen and rejected (pairing.flipRate; migration 6: earlier rows read false). */
  flipped: Schema.Boolean
})
export type PairRow = typeof PairRow.Type

/** A rollout as stored. The table keeps its sampling parameters as flat columns. */
export const RolloutRow = Schema.Struct({
  rolloutId: Schema.String,
  runId: Schema.String,
  round: Schema.Number,
  purpose: RolloutPurpose,
  promptId: Schema.String,
  sampleIdx: Schema.Number,
  policyCkpt: Schema.String,
  tokenIds: Schema.Array(Schema.Number),
  /** The Float32 values stored (Math.fround of what was written). */
  tokenLogprobs: Schema.Array(Schema.Number),
  logprobSum: Schema.Number,
  length: Schema.Number,
  finishReason: FinishReason,
  temperature: Schema.Number,
  topK: Schema.Number,
  topP: Schema.Number,
  minP: Schema.Number,
  repetitionPenalty: Schema.Number,
  maxNewTokens: Schema.Number,
  stop: Schema.Array(Schema.String),
  seed: Schema.Number,
  text: Schema.String
})

/** A policy-gradient round's train rollout: its reward, KL to π_ref and leave-one-out advantage (store: `advantages`). */
export const AdvantageRow = Schema.Struct({
  rolloutId: Schema.String,
  runId: Schema.String,
  round: Schema.Number,
  promptId: Schema.String,
  reward: Schema.Number,
  kl: Schema.Number,
  rlhfReward: Schema.Number,
  baseline: Schema.Number,
  advantage: Schema.Number
})
export type AdvantageRow = typeof AdvantageRow.Type

/** log π_r of a pair's two sides under the round's trained policy (written by the train stage). */
export interface PairLogpRow {
  readonly pairId: string
  readonly runId: string
  readonly round: number
  /** π_r: the round's output checkpoint. */
  readonly policyCkpt: string
  readonly chosenLogp: number
  readonly rejectedLogp: number
}

/** One rollout that fed one optimizer step (store: `step_samples`). */
export interface StepSampleRow {
  readonly runId: string
  readonly round: number
  readonly step: number
  readonly rolloutId: string
}

export interface RolloutWrite extends StoredRollout {
  readonly purpose: RolloutPurpose
}

export interface PairFilterRow {
  readonly runId: string
  readonly round: number
  /** candidates, ties, duplicates, margin, kept … */
  readonly filter: string
  readonly count: number
}

export interface TrainStepRow extends TrainStepMetrics {
  readonly runId: string
  readonly round: number
}

export interface StageTiming {
  readonly backend: string | null
  readonly wallSeconds: number
  readonly cpuSeconds: number
}

/** A user prompt's row of its file (prompt_data): the prompt as written and every other column. */
export interface PromptDataRow {
  readonly promptId: string
  /** Position in the run's prompt list (train then held-out, as loaded): the order a resumed run reads them back in. */
  readonly ord: number
  readonly source: string
  readonly rowIndex: number
  /** The prompt as the file holds it: a string, or a list of {role, content}. */
  readonly prompt: unknown
  /** The row's other columns, handed to the reward (e.g. ground_truth). */
  readonly columns: Readonly<Record<string, unknown>>
  /** Tokens before any truncation. */
  readonly promptTokens: number
  readonly truncated: boolean
}

/** A file a run read its prompts from (prompt_files). */
export interface PromptFileRow {
  readonly runId: string
  readonly split: "train" | "heldout"
  readonly path: string
  readonly sha256: string
  /** What the prompts' ids are keyed on (files, tokenizer, limits): prompt ids are prompts/<key>/<split>/<id>. */
  readonly promptKey: string
  readonly rows: number
  readonly kept: number
  readonly truncated: number
  readonly dropped: number
}

/** Everything one stage writes; it lands in one transaction with the round's new stage. */
export interface StageWrite {
  readonly runId: string
  readonly round: number
  readonly stage: Stage
  /** Round fields to set with the stage (policy/ref at "started", output at "train"). */
  readonly round_?: { readonly policyCkpt?: string; readonly refCkpt?: string; readonly outputCkpt?: string }
  readonly prompts?: ReadonlyArray<typeof Prompt.Type>
  readonly promptData?: ReadonlyArray<PromptDataRow>
  readonly promptFiles?: ReadonlyArray<PromptFileRow>
  readonly checkpoints?: ReadonlyArray<CheckpointRow>
  readonly rollouts?: ReadonlyArray<RolloutWrite>
  readonly scores?: ReadonlyArray<ScoreRow>
  readonly pairs?: ReadonlyArray<PreferencePair>
  readonly pairFilters?: ReadonlyArray<PairFilterRow>
  readonly trainSteps?: ReadonlyArray<TrainStepRow>
  readonly advantages?: ReadonlyArray<AdvantageRow>
  readonly stepSamples?: ReadonlyArray<StepSampleRow>
  readonly pairLogps?: ReadonlyArray<PairLogpRow>
  readonly evals?: ReadonlyArray<EvalRecord>
  /** How long the stage took (stage_times). */
  readonly timing?: StageTiming
}

/**
 * A query's result. Values are plain JS: integers as numbers (bigint only beyond 2^53), DOUBLE /
 * FLOAT as numbers, lists as arrays, structs as objects, timestamps as ISO-8601 strings (UTC),
 * columns of DuckDB's JSON type parsed (e.g. runs.config, train_steps.metrics), NULL as null.
 */
export interface QueryResult {
  readonly columns: ReadonlyArray<string>
  /** Rows of plain JS values (numbers, strings, arrays, null). */
  readonly rows: ReadonlyArray<ReadonlyArray<unknown>>
}
