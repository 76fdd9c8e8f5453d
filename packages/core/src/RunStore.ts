/**
 * The RunStore service: every run's data in one DuckDB file (DESIGN.md "The run store").
 * The service holds only the file's path: each call opens the database, does its work in one
 * transaction, and closes it, so that another process can query a live run between writes.
 */
import type { DuckDBConnection } from "@duckdb/node-api"
import { Context, Effect, Layer, Ref, Semaphore } from "effect"
import { accessSync, constants, existsSync, mkdirSync, statSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { RunNotFound, StoreError, type StoreLocked } from "./Errors.ts"
import { type Access, connect, damagedMessage, isDamaged, type QueryAccess, exec, readAll, readAllStatements, snapshot, transaction } from "./internal/store/connection.ts"
import * as Decode from "./internal/store/decode.ts"
import { archiveWriteMessage, isArchive, openArchive } from "./internal/store/archive.ts"
import { currentVersion, migrate, schemaVersion } from "./internal/store/migrations.ts"
import { resolvedPath, storedPath } from "./internal/store/paths.ts"
import { writeStage } from "./internal/store/write.ts"
import { AdvantageRow, CheckpointRow, PairRow, type QueryResult, RoundRow, RunRow, type RunStatus, ScoreRow } from "./StoreRows.ts"
import type { PromptDataRow, PromptFileRow, RolloutPurpose, RolloutWrite, StageWrite } from "./StoreRows.ts"
import type { Prompt } from "./Domain.ts"

/** What readRunPrompts returns: no files when the run has not recorded its prompts yet. */
export interface StoredPrompts {
  readonly files: ReadonlyArray<PromptFileRow>
  readonly prompts: ReadonlyArray<{ readonly prompt: Prompt; readonly data: PromptDataRow }>
}

export {
  AdvantageRow, CheckpointRow, type PairFilterRow, PairRow, type QueryResult, RolloutPurpose, type RolloutWrite, RoundRow, RunRow,
  RunStatus, ScoreRow, Stage, stages, type StageTiming, type StageWrite, type StepSampleRow, type TrainStepRow
} from "./StoreRows.ts"

export { isArchive, writeArchive } from "./internal/store/archive.ts"

/** Where runs go unless `--db` says otherwise; one file holds many runs. */
export const defaultDbFile = "runs/odpo.duckdb"

export interface LayerOptions {
  /**
   * How long a call waits for another process's lock on the file before StoreLocked (ms). Default
   * 30 000: other odpo processes hold it only to write a stage, or to copy the file for a query
   * (measured on a busy 2-core machine: about 0.25 s + 9 ms per MB, so some 3 GB within the wait).
   */
  readonly lockTimeoutMs?: number
  /** Create the file (and its directory) when missing. Default true; read commands pass false, so a mistyped --db says so. */
  readonly create?: boolean
}

export type StoreFailure = StoreError | StoreLocked

export interface QueryOptions {
  /** Run on the file itself, in one transaction, and allow statements that change it. */
  readonly write?: boolean
  /** Read a snapshot, and allow `COPY (…) TO 'file'` (writes files, never the database). */
  readonly files?: boolean
}

export class RunStore extends Context.Service<RunStore, {
  /** The database file (or the results archive, `X.duckdb.gz`, it reads). */
  readonly file: string
  /**
   * A path as the store records it: relative to the database's folder when under it (so the
   * folder can move), else absolute. `resolvePath` turns a recorded path back into one to open.
   */
  readonly storePath: (path: string) => string
  readonly resolvePath: (path: string) => string
  readonly createRun: (run: RunRow) => Effect.Effect<void, StoreFailure>
  readonly setRunStatus: (runId: string, status: RunStatus) => Effect.Effect<void, StoreFailure>
  /** Record the engine a run (re)starts on. */
  readonly setRunEngine: (runId: string, backend: string, device: string) => Effect.Effect<void, StoreFailure>
  /**
   * By run id, or by name: the newest finished run of that name, else the newest (logging which,
   * when newer runs of the name are not finished).
   */
  readonly getRun: (idOrName: string) => Effect.Effect<RunRow, StoreFailure | RunNotFound>
  readonly listRuns: () => Effect.Effect<ReadonlyArray<RunRow>, StoreFailure>
  readonly listRounds: (runId: string) => Effect.Effect<ReadonlyArray<RoundRow>, StoreFailure>
  readonly recordStage: (write: StageWrite) => Effect.Effect<void, StoreFailure>
  readonly readRollouts: (runId: string, round: number, purpose: RolloutPurpose) => Effect.Effect<ReadonlyArray<RolloutWrite>, StoreFailure>
  readonly readScores: (runId: string, round: number, purpose: RolloutPurpose) => Effect.Effect<ReadonlyArray<ScoreRow>, StoreFailure>
  readonly readPairs: (runId: string, round: number) => Effect.Effect<ReadonlyArray<PairRow>, StoreFailure>
  /** A policy-gradient round's advantages, in the order they were written. */
  readonly readAdvantages: (runId: string, round: number) => Effect.Effect<ReadonlyArray<AdvantageRow>, StoreFailure>
  readonly readCheckpoint: (ckptId: string) => Effect.Effect<CheckpointRow | null, StoreFailure>
  /** The files a run read its own prompts from, and those prompts with their rows (task "prompts"), in the order loaded. */
  readonly readRunPrompts: (runId: string) => Effect.Effect<StoredPrompts, StoreFailure>
  /**
   * Any SQL (`odpo query`); errors carry DuckDB's message and change nothing. Several statements
   * run in order; the last one's rows are returned. By default it reads a snapshot of the file
   * (so a long query never holds up a run's writes) and refuses any statement that would write;
   * with `write: true` every statement runs on the file itself, in one transaction; with
   * `files: true` it reads a snapshot but may also write files with `COPY (…) TO` (odpo export).
   */
  readonly query: (sql: string, options?: QueryOptions) => Effect.Effect<QueryResult, StoreFailure>
}>()("@odpo/core/RunStore") {
  /**
   * The store on `file` (created with its parent directory when missing, unless `create: false`).
   * A `.gz` file is a results archive: read from a decompressed private copy, never written.
   * Provide one layer per file in a process: DuckDB's file lock does not exclude two opens within
   * one process, so the layer makes this process's calls on its file take turns.
   */
  static layer = (file: string = defaultDbFile, options: LayerOptions = {}): Layer.Layer<RunStore, StoreError> =>
    Layer.effect(RunStore, make(file, options))
}

/** Whether this process may write the file and its folder (DuckDB's write open needs both, for the WAL). */
const writable = (file: string) => {
  try {
    accessSync(file, constants.W_OK)
    accessSync(dirname(file), constants.W_OK)
    return true
  } catch {
    return false
  }
}

const readOnlySql = /^(select|with|from|describe|show|summarize|pragma|explain|values|table)\b/i

/** The statement's first keyword decides the access: leading comments, blanks and "(" are skipped. */
export const isReadOnlySql = (sql: string): boolean =>
  readOnlySql.test(sql.replace(/^(\s|\(|--[^\n]*(\n|$)|\/\*[\s\S]*?\*\/)*/, ""))

/** What DuckDB said, from a message that may already wrap it (e.g. one naming an archive's private copy). */
const duckdbSaid = (message: string) => {
  const at = message.lastIndexOf("DuckDB said: ")
  return at >= 0 ? message.slice(at + "DuckDB said: ".length) : message.replace(/^[^:]*\([^)]*\): /, "")
}

/** SQL with nothing but blanks, comments and semicolons. */
const isEmptySql = (sql: string) => sql.replace(/\s|;|--[^\n]*(\n|$)|\/\*[\s\S]*?\*\//g, "").length === 0

/** The RunStore service on one file: every call opens the file, works, and closes it. */
export const make = Effect.fnUntraced(function*(given: string, options: LayerOptions = {}) {
  const lockTimeoutMs = options.lockTimeoutMs ?? 30_000
  // Paths are stored relative to the database's (or the archive's) own folder.
  const dir = dirname(resolve(given))
  const storePath = (path: string) => storedPath(dir, path)
  const resolvePath = (path: string) => resolvedPath(dir, path)
  const archived = isArchive(given)
  if (options.create === false || archived) {
    if (!existsSync(given)) {
      return yield* new StoreError({ message: `no run store at ${given}: check --db (\`odpo run\` creates one)` })
    }
    if (statSync(given).isDirectory()) return yield* new StoreError({ message: `${given} is a directory, not a run store: give --db a .duckdb file` })
  }
  // An archive is read from its decompressed copy, which lives as long as the layer.
  const file = archived ? yield* openArchive(given) : given
  yield* Effect.try({
    try: () => mkdirSync(dirname(file), { recursive: true }),
    catch: (cause) => new StoreError({ message: `cannot create the directory of the run store ${file}: ${String(cause)}`, cause })
  })

  // This process's calls on the file take turns (see `layer`); the layer owns the turn and the flag.
  const turn = yield* Semaphore.make(1)
  // A read-only open cannot migrate: a new or old file is first brought up to date by a write open.
  const upToDate = yield* Ref.make(false)
  const ensureCurrent = Effect.gen(function*() {
    if ((yield* Ref.get(upToDate)) && existsSync(file)) return
    if (existsSync(file)) {
      const version = yield* Effect.scoped(Effect.flatMap(connect(file, "read", lockTimeoutMs), schemaVersion))
      if (version >= currentVersion) return yield* Ref.set(upToDate, true)
      // An older file on a disk odpo cannot write (read-only, or another user's): read it as it is.
      if (!writable(file)) {
        yield* Effect.logWarning(`${given} is at schema version ${version} (this odpo writes ${currentVersion}) and cannot be written here: reading it as it is; views added since are missing`)
        return yield* Ref.set(upToDate, true)
      }
    }
    yield* Effect.scoped(Effect.flatMap(connect(file, "write", lockTimeoutMs), (conn) => migrate(conn, file)))
    yield* Ref.set(upToDate, true)
  })

  // Damage met by any statement (not only at open) reads the same in every command, naming this file.
  const clarify = <E>(e: E): E =>
    e instanceof StoreError && isDamaged(e.message) && !e.message.startsWith(`the run store ${given} is truncated`)
      ? new StoreError({ message: damagedMessage(given, duckdbSaid(e.message)), cause: e }) as E
      : e

  /** Open (waiting out another process's lock), use, close. */
  const withDb = <A, E>(access: Access, use: (conn: DuckDBConnection) => Effect.Effect<A, E>) =>
    turn.withPermit(Effect.scoped(Effect.gen(function*() {
      if (access === "write" && archived) return yield* new StoreError({ message: archiveWriteMessage(given) })
      if (access === "read") yield* ensureCurrent
      const conn = yield* connect(file, access, lockTimeoutMs)
      if (access === "write") {
        yield* migrate(conn, file)
        yield* Ref.set(upToDate, true)
      }
      return yield* use(conn)
    }))).pipe(Effect.mapError(clarify))

  /** Copy the file under a brief read lock, then query the copy with no lock held on the file. */
  const withSnapshot = <A, E>(use: (conn: DuckDBConnection) => Effect.Effect<A, E>) =>
    Effect.scoped(Effect.gen(function*() {
      // An archive's copy is private already: no other process can be writing it.
      if (archived) return yield* withDb("read", use)
      const copy = yield* turn.withPermit(Effect.andThen(ensureCurrent, snapshot(file, lockTimeoutMs)))
      // No room for a copy anywhere (a read-only or full disk): read the file itself, under a read lock.
      if (copy === null) return yield* withDb("read", use)
      return yield* use(yield* connect(copy, "read", lockTimeoutMs))
    })).pipe(Effect.mapError(clarify))

  const rows = (conn: DuckDBConnection, sql: string, values: ReadonlyArray<string | number>, context: string) =>
    Effect.map(readAll(conn, sql, values, context), Decode.rowObjects)

  const runRows = Decode.decodeRows(RunRow, "runs")
  const roundRows = Decode.decodeRows(RoundRow, "rounds")
  const checkpointRows = Decode.decodeRows(CheckpointRow, "checkpoints")
  const scoreRows = Decode.decodeRows(ScoreRow, "scores")
  const pairRows = Decode.decodeRows(PairRow, "pairs")
  const advantageRows = Decode.decodeRows(AdvantageRow, "advantages")

  const createRun = Effect.fn("RunStore.createRun")(function*(run: RunRow) {
    const context = `createRun(${run.runId})`
    yield* withDb("write", (conn) =>
      transaction(conn, Effect.gen(function*() {
        const existing = yield* rows(conn, "SELECT name FROM runs WHERE run_id = $1", [run.runId], context)
        if (existing.length > 0) {
          return yield* new StoreError({ message: `${context}: ${given} already holds a run with id ${run.runId} (named "${existing[0].name}"); use a new run id, or \`odpo resume ${run.runId}\`` })
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
    if (changed === 0) return yield* new StoreError({ message: `${context}: no run with id ${runId} in ${given}` })
  })

  const setRunEngine = Effect.fn("RunStore.setRunEngine")(function*(runId: string, backend: string, device: string) {
    const context = `setRunEngine(${runId})`
    yield* withDb("write", (conn) => exec(conn, "UPDATE runs SET backend = $2, device = $3 WHERE run_id = $1", [runId, backend, device], context))
  })

  const getRun = Effect.fn("RunStore.getRun")(function*(idOrName: string) {
    const [found, recent] = yield* withDb("read", (conn) =>
      Effect.all([
        rows(conn, "SELECT * FROM runs WHERE run_id = $1 OR name = $1 ORDER BY run_id = $1 DESC, status = 'finished' DESC, created_at DESC", [idOrName], "getRun"),
        rows(conn, "SELECT run_id, name FROM runs ORDER BY created_at DESC LIMIT 5", [], "getRun")
      ]))
    if (found.length > 0) {
      const [chosen, ...others] = yield* runRows(found)
      // A name means its newest finished run: a newer failed or unfinished one must not hide it unsaid.
      const newer = chosen!.runId === idOrName ? [] : others.filter((r) => r.createdAt > chosen!.createdAt)
      if (newer.length > 0) {
        yield* Effect.logWarning(
          `"${idOrName}" is run ${chosen!.runId} (${chosen!.status}), the newest finished run of that name; ` +
            `newer, not finished: ${newer.map((r) => `${r.runId} (${r.status})`).join(", ")}: name a run id to take another`
        )
      }
      return chosen!
    }
    const known = recent.length === 0 ? `${given} holds no runs yet` : `recent runs: ${recent.map((r) => `${r.name} (${r.run_id})`).join(", ")}`
    return yield* new RunNotFound({ run: idOrName, message: `no run with id or name "${idOrName}" in ${given}; ${known}` })
  })

  const listRuns = Effect.fn("RunStore.listRuns")(function*() {
    const found = yield* withDb("read", (conn) => rows(conn, "SELECT * FROM runs ORDER BY created_at, run_id", [], "listRuns"))
    return yield* runRows(found)
  })

  const listRounds = Effect.fn("RunStore.listRounds")(function*(runId: string) {
    const found = yield* withDb("read", (conn) => rows(conn, "SELECT * FROM rounds WHERE run_id = $1 ORDER BY round", [runId], "listRounds"))
    return yield* roundRows(found)
  })

  const recordStage = Effect.fn("RunStore.recordStage")(function*(write: StageWrite) {
    const checkpoints = write.checkpoints?.map((c) => ({ ...c, path: storePath(c.path) }))
    yield* withDb("write", (conn) => writeStage(conn, checkpoints ? { ...write, checkpoints } : write))
  })

  // Rows come back in the order they were written (rowid), which is the order the stage produced them.
  const readRollouts = Effect.fn("RunStore.readRollouts")(function*(runId: string, round: number, purpose: RolloutPurpose) {
    const found = yield* withDb("read", (conn) =>
      rows(conn, "SELECT * FROM rollouts WHERE run_id = $1 AND round = $2 AND purpose = $3 ORDER BY rowid", [runId, round, purpose], "readRollouts"))
    return yield* Decode.rolloutRows(found)
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
    return yield* scoreRows(found)
  })

  const readPairs = Effect.fn("RunStore.readPairs")(function*(runId: string, round: number) {
    const found = yield* withDb("read", (conn) =>
      rows(conn, "SELECT * FROM pairs WHERE run_id = $1 AND round = $2 ORDER BY rowid", [runId, round], "readPairs"))
    return yield* pairRows(found)
  })

  const readAdvantages = Effect.fn("RunStore.readAdvantages")(function*(runId: string, round: number) {
    const found = yield* withDb("read", (conn) =>
      rows(conn, "SELECT * FROM advantages WHERE run_id = $1 AND round = $2 ORDER BY rowid", [runId, round], "readAdvantages"))
    return yield* advantageRows(found)
  })

  const readCheckpoint = Effect.fn("RunStore.readCheckpoint")(function*(ckptId: string) {
    const found = yield* withDb("read", (conn) => rows(conn, "SELECT * FROM checkpoints WHERE ckpt_id = $1", [ckptId], "readCheckpoint"))
    if (found.length === 0) return null
    const row = (yield* checkpointRows(found))[0]!
    return { ...row, path: resolvePath(row.path) }
  })

  const readRunPrompts = Effect.fn("RunStore.readRunPrompts")(function*(runId: string) {
    const [fileRows, promptRows] = yield* withDb("read", (conn) =>
      Effect.all([
        rows(conn, "SELECT * FROM prompt_files WHERE run_id = $1 ORDER BY split DESC", [runId], "readRunPrompts"),
        rows(
          conn,
          `SELECT p.prompt_id, p.task, p.split, p.text, p.token_ids, d.ord, d.source, d.row_index, d.prompt::VARCHAR AS prompt,
                  d.columns::VARCHAR AS columns, d.prompt_tokens, d.truncated
           FROM prompts p JOIN prompt_data d USING (prompt_id)
           WHERE p.prompt_id LIKE 'prompts/' || (SELECT any_value(prompt_key) FROM prompt_files WHERE run_id = $1) || '/%'
           ORDER BY d.ord`,
          [runId],
          "readRunPrompts"
        )
      ]))
    const files = fileRows.map((f): PromptFileRow => ({
      runId: String(f.run_id), split: f.split as PromptFileRow["split"], path: String(f.path), sha256: String(f.sha256), promptKey: String(f.prompt_key),
      rows: Number(f.rows), kept: Number(f.kept), truncated: Number(f.truncated), dropped: Number(f.dropped)
    }))
    const prompts = promptRows.map((r) => ({
      prompt: { promptId: String(r.prompt_id), task: String(r.task), split: r.split as Prompt["split"], text: String(r.text), tokenIds: (r.token_ids as Array<number>).map(Number) },
      data: {
        promptId: String(r.prompt_id), ord: Number(r.ord), source: String(r.source), rowIndex: Number(r.row_index),
        prompt: JSON.parse(String(r.prompt)) as unknown, columns: JSON.parse(String(r.columns)) as Record<string, unknown>,
        promptTokens: Number(r.prompt_tokens), truncated: Boolean(r.truncated)
      }
    }))
    return { files, prompts } satisfies StoredPrompts
  })

  const query = Effect.fn("RunStore.query")(function*(sql: string, options: QueryOptions = {}) {
    if (isEmptySql(sql)) return yield* new StoreError({ message: `the SQL is empty: give a statement, e.g. "SELECT name, status FROM runs"` })
    const run = (access: QueryAccess) => (conn: DuckDBConnection) => Effect.map(readAllStatements(conn, sql, access), Decode.toQueryResult)
    if (options.write !== true) return yield* withSnapshot(run(options.files === true ? "files" : "read"))
    return yield* withDb("write", (conn) => transaction(conn, run("write")(conn)))
  })

  return RunStore.of({
    file: given, storePath, resolvePath, createRun, setRunStatus, setRunEngine, getRun, listRuns, listRounds, recordStage,
    readRollouts, readScores, readPairs, readAdvantages, readCheckpoint, readRunPrompts, query
  })
})
