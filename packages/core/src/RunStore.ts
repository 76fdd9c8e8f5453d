/**
 * The RunStore service: every run's data in one DuckDB file (DESIGN.md "The run store").
 * The service holds only the file's path: each call opens the database, does its work in one
 * transaction, and closes it, so that another process can query a live run between writes.
 */
import { Context, type Effect } from "effect"
import type { EvalRecord, PreferencePair, Prompt, StoredRollout, TrainStepMetrics } from "./Domain.ts"
import type { RunNotFound, StoreError, StoreLocked } from "./Errors.ts"

export type RunStatus = "running" | "finished" | "failed"

/** Stages of a round in order; rounds.stage holds the last one finished. */
export const stages = ["started", "rollouts", "scores", "pairs", "train", "eval"] as const
export type Stage = (typeof stages)[number]

export interface RunRow {
  readonly runId: string
  readonly name: string
  readonly experiment: string
  /** The decoded RunConfig, as JSON. */
  readonly config: unknown
  readonly seed: number
  readonly pairSource: string
  readonly loss: string
  readonly beta: number
  readonly status: RunStatus
  readonly createdAt: string
  readonly codeVersion: string
}

export interface RoundRow {
  readonly runId: string
  readonly round: number
  /** Policy this round samples from / trains (π_{r−1}); its output is policy of round r+1. */
  readonly policyCkpt: string
  readonly refCkpt: string
  /** Policy produced by this round's training (null until trained). */
  readonly outputCkpt: string | null
  readonly stage: Stage
  readonly startedAt: string
  readonly finishedAt: string | null
}

export interface CheckpointRow {
  readonly ckptId: string
  readonly path: string
  readonly parent: string | null
  readonly runId: string
  readonly round: number
  readonly nParams: number
}

/** Purpose of a rollout: a round's training samples, or evaluation samples of policy / reference. */
export type RolloutPurpose = "train" | "eval" | "eval_ref"

export interface RolloutWrite extends StoredRollout {
  readonly purpose: RolloutPurpose
}

export interface ScoreRow {
  readonly rolloutId: string
  readonly source: string
  readonly reward: number
  readonly goldReward: number | null
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

/** Everything one stage writes; it lands in one transaction with the round's new stage. */
export interface StageWrite {
  readonly runId: string
  readonly round: number
  readonly stage: Stage
  /** Round fields to set with the stage (policy/ref at "started", output at "train"). */
  readonly round_?: { readonly policyCkpt?: string; readonly refCkpt?: string; readonly outputCkpt?: string }
  readonly prompts?: ReadonlyArray<Prompt>
  readonly checkpoints?: ReadonlyArray<CheckpointRow>
  readonly rollouts?: ReadonlyArray<RolloutWrite>
  readonly scores?: ReadonlyArray<ScoreRow>
  readonly pairs?: ReadonlyArray<PreferencePair>
  readonly pairFilters?: ReadonlyArray<PairFilterRow>
  readonly trainSteps?: ReadonlyArray<TrainStepRow>
  readonly evals?: ReadonlyArray<EvalRecord>
}

export interface QueryResult {
  readonly columns: ReadonlyArray<string>
  /** Rows of plain JS values (numbers, strings, arrays, null). */
  readonly rows: ReadonlyArray<ReadonlyArray<unknown>>
}

export type StoreFailure = StoreError | StoreLocked

export class RunStore extends Context.Service<RunStore, {
  /** The database file. */
  readonly file: string
  readonly createRun: (run: RunRow) => Effect.Effect<void, StoreFailure>
  readonly setRunStatus: (runId: string, status: RunStatus) => Effect.Effect<void, StoreFailure>
  /** By run id, or by name (the newest run of that name). */
  readonly getRun: (idOrName: string) => Effect.Effect<RunRow, StoreFailure | RunNotFound>
  readonly listRuns: () => Effect.Effect<ReadonlyArray<RunRow>, StoreFailure>
  readonly listRounds: (runId: string) => Effect.Effect<ReadonlyArray<RoundRow>, StoreFailure>
  readonly recordStage: (write: StageWrite) => Effect.Effect<void, StoreFailure>
  readonly readRollouts: (runId: string, round: number, purpose: RolloutPurpose) => Effect.Effect<ReadonlyArray<RolloutWrite>, StoreFailure>
  readonly readScores: (runId: string, round: number, purpose: RolloutPurpose) => Effect.Effect<ReadonlyArray<ScoreRow>, StoreFailure>
  readonly readPairs: (runId: string, round: number) => Effect.Effect<ReadonlyArray<PreferencePair>, StoreFailure>
  readonly readCheckpoint: (ckptId: string) => Effect.Effect<CheckpointRow | null, StoreFailure>
  /** Any SQL (read-only use by `odpo query`); errors carry DuckDB's message. */
  readonly query: (sql: string) => Effect.Effect<QueryResult, StoreFailure>
}>()("@odpo/core/RunStore") {}
