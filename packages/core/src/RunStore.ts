/**
 * The RunStore service: every run's data in one DuckDB file (DESIGN.md "The run store").
 * The service holds only the file's path: each call opens the database, does its work in one
 * transaction, and closes it, so that another process can query a live run between writes.
 */
import type { DuckDBConnection } from "@duckdb/node-api"
import { Context, Effect, Layer } from "effect"
import { existsSync, mkdirSync } from "node:fs"
import { dirname } from "node:path"
import type { EvalRecord, PreferencePair, Prompt, StoredRollout, TrainStepMetrics } from "./Domain.ts"
import { RunNotFound, StoreError, type StoreLocked } from "./Errors.ts"
import { type Access, connect, exec, inTurn, readAll, readAllStatements, transaction } from "./internal/store/connection.ts"
import * as Decode from "./internal/store/decode.ts"
import { currentVersion, migrate, schemaVersion } from "./internal/store/migrations.ts"
import { writeStage } from "./internal/store/write.ts"

/** Where runs go unless `--db` says otherwise; one file holds many runs. */
export const defaultDbFile = "runs/odpo.duckdb"

export interface LayerOptions {
  /** How long a call waits for another process's write lock on the file before StoreLocked (ms). Default 5000. */
  readonly lockTimeoutMs?: number
}

export type RunStatus = "running" | "finished" | "failed"

/**
 * Stages of a round in order; rounds.stage holds the last one finished. A preference round makes
 * "pairs", a policy-gradient round (rloo, ppo_clip) "advantages" instead: each skips the other.
 */
export const stages = ["started", "rollouts", "scores", "pairs", "advantages", "train", "eval"] as const
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
  /** The engine the run last started or resumed on (null before migration 3's runs). */
  readonly backend: string | null
  readonly device: string | null
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

/** A policy-gradient round's train rollout: its reward, KL to π_ref and leave-one-out advantage (store: `advantages`). */
export interface AdvantageRow {
  readonly rolloutId: string
  readonly runId: string
  readonly round: number
  readonly promptId: string
  readonly reward: number
  readonly kl: number
  readonly rlhfReward: number
  readonly baseline: number
  readonly advantage: number
}

/** One rollout that fed one optimizer step (store: `step_samples`). */
export interface StepSampleRow {
  readonly runId: string
  readonly round: number
  readonly step: number
  readonly rolloutId: string
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
  readonly advantages?: ReadonlyArray<AdvantageRow>
  readonly stepSamples?: ReadonlyArray<StepSampleRow>
  readonly evals?: ReadonlyArray<EvalRecord>
  /** How long the stage took (stage_times). */
  readonly timing?: StageTiming
}

export interface StageTiming {
  readonly backend: string | null
  readonly wallSeconds: number
  readonly cpuSeconds: number
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

export type StoreFailure = StoreError | StoreLocked

export class RunStore extends Context.Service<RunStore, {
  /** The database file. */
  readonly file: string
  readonly createRun: (run: RunRow) => Effect.Effect<void, StoreFailure>
  readonly setRunStatus: (runId: string, status: RunStatus) => Effect.Effect<void, StoreFailure>
  /** Record the engine a run (re)starts on. */
  readonly setRunEngine: (runId: string, backend: string, device: string) => Effect.Effect<void, StoreFailure>
  /** By run id, or by name (the newest run of that name). */
  readonly getRun: (idOrName: string) => Effect.Effect<RunRow, StoreFailure | RunNotFound>
  readonly listRuns: () => Effect.Effect<ReadonlyArray<RunRow>, StoreFailure>
  readonly listRounds: (runId: string) => Effect.Effect<ReadonlyArray<RoundRow>, StoreFailure>
  readonly recordStage: (write: StageWrite) => Effect.Effect<void, StoreFailure>
  readonly readRollouts: (runId: string, round: number, purpose: RolloutPurpose) => Effect.Effect<ReadonlyArray<RolloutWrite>, StoreFailure>
  readonly readScores: (runId: string, round: number, purpose: RolloutPurpose) => Effect.Effect<ReadonlyArray<ScoreRow>, StoreFailure>
  readonly readPairs: (runId: string, round: number) => Effect.Effect<ReadonlyArray<PreferencePair>, StoreFailure>
  /** A policy-gradient round's advantages, in the order they were written. */
  readonly readAdvantages: (runId: string, round: number) => Effect.Effect<ReadonlyArray<AdvantageRow>, StoreFailure>
  readonly readCheckpoint: (ckptId: string) => Effect.Effect<CheckpointRow | null, StoreFailure>
  /**
   * Any SQL (`odpo query`); errors carry DuckDB's message and change nothing. A SELECT / WITH /
   * FROM / DESCRIBE / SHOW / SUMMARIZE / PRAGMA / EXPLAIN / VALUES / TABLE / COPY (…) TO opens the file
   * read-only (it cannot write, and it can share the file with other readers); anything else runs
   * read-write in one transaction. Several statements run in order; the last one's rows are returned.
   */
  readonly query: (sql: string) => Effect.Effect<QueryResult, StoreFailure>
}>()("@odpo/core/RunStore") {
  /** The store on `file` (created with its parent directory when missing). */
  static layer = (file: string = defaultDbFile, options: LayerOptions = {}): Layer.Layer<RunStore, StoreError> =>
    Layer.effect(RunStore, make(file, options))
}

// `COPY (query) TO 'file'` (odpo export) writes a file, never the database: a read.
const readOnlySql = /^((select|with|from|describe|show|summarize|pragma|explain|values|table)\b|copy\s*\()/i

/** The statement's first keyword decides the access: leading comments, blanks and "(" are skipped. */
export const isReadOnlySql = (sql: string): boolean =>
  readOnlySql.test(sql.replace(/^(\s|\(|--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/)*/, ""))

/** The RunStore service on one file: every call opens the file, works, and closes it. */
export const make = Effect.fnUntraced(function*(file: string, options: LayerOptions = {}) {
  const lockTimeoutMs = options.lockTimeoutMs ?? 5000
  yield* Effect.try({
    try: () => mkdirSync(dirname(file), { recursive: true }),
    catch: (cause) => new StoreError({ message: `cannot create the directory of the run store ${file}: ${String(cause)}`, cause })
  })

  // A read-only open cannot migrate: a new or old file is first brought up to date by a write open.
  let upToDate = false
  const ensureCurrent = Effect.gen(function*() {
    if (upToDate && existsSync(file)) return
    if (existsSync(file)) {
      const version = yield* Effect.scoped(Effect.flatMap(connect(file, "read", lockTimeoutMs), schemaVersion))
      if (version >= currentVersion) return void (upToDate = true)
    }
    yield* Effect.scoped(Effect.flatMap(connect(file, "write", lockTimeoutMs), (conn) => migrate(conn, file)))
    upToDate = true
  })

  /** Open (waiting out another process's lock), use, close; calls on this file in this process take turns. */
  const withDb = <A, E>(access: Access, use: (conn: DuckDBConnection) => Effect.Effect<A, E>) =>
    inTurn(file)(Effect.scoped(Effect.gen(function*() {
      if (access === "read") yield* ensureCurrent
      const conn = yield* connect(file, access, lockTimeoutMs)
      if (access === "write") {
        yield* migrate(conn, file)
        upToDate = true
      }
      return yield* use(conn)
    })))

  const rows = (conn: DuckDBConnection, sql: string, values: ReadonlyArray<string | number>, context: string) =>
    Effect.map(readAll(conn, sql, values, context), Decode.rowObjects)

  const createRun = Effect.fn("RunStore.createRun")(function*(run: RunRow) {
    const context = `createRun(${run.runId})`
    yield* withDb("write", (conn) =>
      transaction(conn, Effect.gen(function*() {
        const existing = yield* rows(conn, "SELECT name FROM runs WHERE run_id = $1", [run.runId], context)
        if (existing.length > 0) {
          return yield* new StoreError({ message: `${context}: ${file} already holds a run with id ${run.runId} (named "${existing[0].name}"); use a new run id, or \`odpo resume ${run.runId}\`` })
        }
        yield* exec(
          conn,
          `INSERT INTO runs VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::TIMESTAMPTZ, $11, $12, $13)`,
          [run.runId, run.name, run.experiment, JSON.stringify(run.config ?? null), run.seed, run.pairSource, run.loss, run.beta, run.status, run.createdAt, run.codeVersion, run.backend, run.device],
          context
        )
      })))
  })

  const setRunStatus = Effect.fn("RunStore.setRunStatus")(function*(runId: string, status: RunStatus) {
    const context = `setRunStatus(${runId}, ${status})`
    const changed = yield* withDb("write", (conn) =>
      Effect.map(readAll(conn, "UPDATE runs SET status = $2 WHERE run_id = $1", [runId, status], context), (r) => r.rowsChanged))
    if (changed === 0) return yield* new StoreError({ message: `${context}: no run with id ${runId} in ${file}` })
  })

  const setRunEngine = Effect.fn("RunStore.setRunEngine")(function*(runId: string, backend: string, device: string) {
    const context = `setRunEngine(${runId})`
    yield* withDb("write", (conn) => exec(conn, "UPDATE runs SET backend = $2, device = $3 WHERE run_id = $1", [runId, backend, device], context))
  })

  const getRun = Effect.fn("RunStore.getRun")(function*(idOrName: string) {
    const [found, recent] = yield* withDb("read", (conn) =>
      Effect.all([
        rows(conn, "SELECT * FROM runs WHERE run_id = $1 OR name = $1 ORDER BY run_id = $1 DESC, created_at DESC LIMIT 1", [idOrName], "getRun"),
        rows(conn, "SELECT run_id, name FROM runs ORDER BY created_at DESC LIMIT 5", [], "getRun")
      ]))
    if (found.length > 0) return Decode.runRow(found[0])
    const known = recent.length === 0 ? `${file} holds no runs yet` : `recent runs: ${recent.map((r) => `${r.name} (${r.run_id})`).join(", ")}`
    return yield* new RunNotFound({ run: idOrName, message: `no run with id or name "${idOrName}" in ${file}; ${known}` })
  })

  const listRuns = Effect.fn("RunStore.listRuns")(function*() {
    const found = yield* withDb("read", (conn) => rows(conn, "SELECT * FROM runs ORDER BY created_at, run_id", [], "listRuns"))
    return found.map(Decode.runRow)
  })

  const listRounds = Effect.fn("RunStore.listRounds")(function*(runId: string) {
    const found = yield* withDb("read", (conn) => rows(conn, "SELECT * FROM rounds WHERE run_id = $1 ORDER BY round", [runId], "listRounds"))
    return found.map(Decode.roundRow)
  })

  const recordStage = Effect.fn("RunStore.recordStage")(function*(write: StageWrite) {
    yield* withDb("write", (conn) => writeStage(conn, write))
  })

  // Rows come back in the order they were written (rowid), which is the order the stage produced them.
  const readRollouts = Effect.fn("RunStore.readRollouts")(function*(runId: string, round: number, purpose: RolloutPurpose) {
    const found = yield* withDb("read", (conn) =>
      rows(conn, "SELECT * FROM rollouts WHERE run_id = $1 AND round = $2 AND purpose = $3 ORDER BY rowid", [runId, round, purpose], "readRollouts"))
    return found.map(Decode.rolloutRow)
  })

  const readScores = Effect.fn("RunStore.readScores")(function*(runId: string, round: number, purpose: RolloutPurpose) {
    const found = yield* withDb("read", (conn) =>
      rows(
        conn,
        `SELECT s.* FROM scores s JOIN rollouts r USING (rollout_id)
         WHERE r.run_id = $1 AND r.round = $2 AND r.purpose = $3 ORDER BY r.rowid, s.source`,
        [runId, round, purpose],
        "readScores"
      ))
    return found.map(Decode.scoreRow)
  })

  const readPairs = Effect.fn("RunStore.readPairs")(function*(runId: string, round: number) {
    const found = yield* withDb("read", (conn) =>
      rows(conn, "SELECT * FROM pairs WHERE run_id = $1 AND round = $2 ORDER BY rowid", [runId, round], "readPairs"))
    return found.map(Decode.pairRow)
  })

  const readAdvantages = Effect.fn("RunStore.readAdvantages")(function*(runId: string, round: number) {
    const found = yield* withDb("read", (conn) =>
      rows(conn, "SELECT * FROM advantages WHERE run_id = $1 AND round = $2 ORDER BY rowid", [runId, round], "readAdvantages"))
    return found.map(Decode.advantageRow)
  })

  const readCheckpoint = Effect.fn("RunStore.readCheckpoint")(function*(ckptId: string) {
    const found = yield* withDb("read", (conn) => rows(conn, "SELECT * FROM checkpoints WHERE ckpt_id = $1", [ckptId], "readCheckpoint"))
    return found.length > 0 ? Decode.checkpointRow(found[0]) : null
  })

  const query = Effect.fn("RunStore.query")(function*(sql: string) {
    const run = (conn: DuckDBConnection) => Effect.map(readAllStatements(conn, sql), Decode.toQueryResult)
    if (isReadOnlySql(sql)) return yield* withDb("read", run)
    return yield* withDb("write", (conn) => transaction(conn, run(conn)))
  })

  return RunStore.of({
    file, createRun, setRunStatus, setRunEngine, getRun, listRuns, listRounds, recordStage,
    readRollouts, readScores, readPairs, readAdvantages, readCheckpoint, query
  })
})
