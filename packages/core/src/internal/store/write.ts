/** One stage's write: every row of a StageWrite and the round's new stage marker, in one transaction. */
import type { DuckDBConnection } from "@duckdb/node-api"
import { duckdb } from "./duckdb.ts"
import { Effect } from "effect"
import { StoreError } from "../../Errors.ts"
import { type Stage, stages, type StageWrite } from "../../StoreRows.ts"
import { exec, readAll, transaction } from "./connection.ts"
import { primaryKeys, type StageTable } from "./schema.ts"

/** TRL metric names → train_steps columns; the full record is kept in train_steps.metrics. */
export const trainStepColumns = [
  ["loss", "loss"],
  ["rewards/chosen", "rewards_chosen"],
  ["rewards/rejected", "rewards_rejected"],
  ["rewards/margins", "rewards_margins"],
  ["rewards/accuracies", "rewards_accuracies"],
  ["logps/chosen", "logps_chosen"],
  ["logps/rejected", "logps_rejected"],
  ["grad_norm", "grad_norm"],
  ["learning_rate", "learning_rate"]
] as const

/** Per-round metric names → evals columns; the full record is kept in evals.metrics. */
export const evalColumns = [
  ["eval/reward", "reward"],
  ["eval/gold_reward", "gold_reward"],
  ["eval/win_rate", "win_rate"],
  ["objective/kl", "kl"],
  ["objective/entropy", "entropy"],
  ["eval/length", "length"],
  ["eval/eos_rate", "eos_rate"]
] as const

const metric = (m: Readonly<Record<string, number>>, name: string): number | null => m[name] ?? null

/** Reference rows (prompts, checkpoints) may repeat within a write: the same id is the same thing. */
const uniqueBy = <T>(rows: ReadonlyArray<T>, key: (t: T) => string): ReadonlyArray<T> =>
  [...new Map(rows.map((r) => [key(r), r] as const)).values()]

/** Each table's rows as value arrays in the table's column order (schema.ts). */
const tableRows = (w: StageWrite): ReadonlyArray<readonly [StageTable, ReadonlyArray<ReadonlyArray<unknown>>]> => [
  ["prompts", uniqueBy(w.prompts ?? [], (p) => p.promptId).map((p) => [p.promptId, p.task, p.split, p.text, p.tokenIds])],
  ["prompt_data", uniqueBy(w.promptData ?? [], (p) => p.promptId).map((p) => [
    p.promptId, p.ord, p.source, p.rowIndex, JSON.stringify(p.prompt), JSON.stringify(p.columns), p.promptTokens, p.truncated
  ])],
  ["prompt_files", (w.promptFiles ?? []).map((f) => [
    f.runId, f.split, f.path, f.sha256, f.promptKey, f.rows, f.kept, f.truncated, f.dropped
  ])],
  ["checkpoints", uniqueBy(w.checkpoints ?? [], (c) => c.ckptId).map((c) => [c.ckptId, c.path, c.parent, c.runId, c.round, c.nParams])],
  ["rollouts", (w.rollouts ?? []).map((r) => [
    r.rolloutId, r.runId, r.round, r.purpose, r.promptId, r.sampleIdx, r.policyCkpt, r.tokenIds, r.tokenLogprobs,
    r.logprobSum, r.length, r.finishReason, r.params.temperature, r.params.topK, r.params.topP, r.params.minP,
    r.params.repetitionPenalty, r.params.maxNewTokens, r.params.stop, r.seed, r.text
  ])],
  ["scores", (w.scores ?? []).map((s) => [s.rolloutId, s.source, s.reward, s.goldReward])],
  ["pairs", (w.pairs ?? []).map((p) => [
    p.pairId, p.runId, p.round, p.promptId, p.chosenId, p.rejectedId, p.margin, p.strategy, p.refChosenLogp, p.refRejectedLogp,
    p.flipped ?? false
  ])],
  ["pair_filters", (w.pairFilters ?? []).map((f) => [f.runId, f.round, f.filter, f.count])],
  ["train_steps", (w.trainSteps ?? []).map((t) => [
    t.runId, t.round, t.step, t.epoch, ...trainStepColumns.map(([name]) => metric(t.metrics, name)), JSON.stringify(t.metrics)
  ])],
  ["advantages", (w.advantages ?? []).map((a) => [
    a.rolloutId, a.runId, a.round, a.promptId, a.reward, a.kl, a.rlhfReward, a.baseline, a.advantage
  ])],
  ["step_samples", (w.stepSamples ?? []).map((u) => [u.runId, u.round, u.step, u.rolloutId])],
  ["evals", (w.evals ?? []).map((e) => [
    e.runId, e.round, e.split, ...evalColumns.map(([name]) => metric(e.metrics, name)), JSON.stringify(e.metrics)
  ])],
  ["pair_logps", (w.pairLogps ?? []).map((l) => [l.pairId, l.runId, l.round, l.policyCkpt, l.chosenLogp, l.rejectedLogp])],
  ["stage_times", w.timing ? [[w.runId, w.round, w.stage, w.timing.backend, w.timing.wallSeconds, w.timing.cpuSeconds]] : []]
]

const quote = (column: string) => `"${column}"`

/**
 * Append rows into a TEMP staging copy of `table`, refuse keys repeated within the write, then
 * merge the rest: rows already stored by an earlier write of the same stage are kept
 * as they are, so writing a stage twice adds nothing. The appender writes inside the open
 * transaction (DuckDB ≥ 1.1), so a failure anywhere rolls the staged and merged rows back.
 */
export const appendRows = (
  conn: DuckDBConnection,
  table: StageTable,
  rows: ReadonlyArray<ReadonlyArray<unknown>>,
  context: string
): Effect.Effect<number, StoreError> =>
  Effect.gen(function*() {
    if (rows.length === 0) return 0
    const staging = `stage_${table}`
    yield* exec(conn, `CREATE OR REPLACE TEMP TABLE ${staging} AS SELECT * FROM ${table} LIMIT 0`, undefined, context)
    yield* Effect.tryPromise({
      try: async () => {
        const { DuckDBDataChunkWriter, JSToDuckDBValueConverter } = duckdb()
        const appender = await conn.createAppender(staging, "main", "temp")
        try {
          if (appender.columnCount !== rows[0].length) {
            throw new Error(`internal: ${table} has ${appender.columnCount} columns, rows have ${rows[0].length}`)
          }
          const writer = DuckDBDataChunkWriter.forAppender(appender, { converter: JSToDuckDBValueConverter })
          for (const row of rows) writer.appendRow(row as ReadonlyArray<never>)
          writer.flush()
        } finally {
          appender.closeSync()
        }
      },
      catch: (cause) =>
        new StoreError({ message: `${context}: cannot write ${table}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
    })
    const key = primaryKeys[table].map(quote).join(", ")
    const dup = yield* readAll(conn, `SELECT ${key} FROM ${staging} GROUP BY ALL HAVING count(*) > 1 LIMIT 1`, undefined, context)
    if (dup.currentRowCount > 0) {
      const which = primaryKeys[table].map((k, i) => `${k} = ${JSON.stringify(dup.getRowsJS()[0][i])}`).join(", ")
      return yield* new StoreError({ message: `${context}: ${table} holds two rows with ${which} in one write; nothing of this stage was written` })
    }
    // An anti-join rather than INSERT OR IGNORE: the latter does not keep the rows' order, and
    // reads return rows in the order the stage wrote them (rowid).
    const merged = yield* readAll(
      conn,
      `INSERT INTO ${table} SELECT s.* FROM ${staging} s ANTI JOIN ${table} t USING (${key}) ORDER BY s.rowid`,
      undefined,
      context
    )
    yield* exec(conn, `DROP TABLE ${staging}`, undefined, context)
    return merged.rowsChanged
  })

/** The later of two stages: re-writing an earlier stage never moves a round's marker back. */
const later = (a: Stage, b: Stage): Stage => (stages.indexOf(a) >= stages.indexOf(b) ? a : b)

/**
 * Set the round's stage (and any checkpoint fields given): started_at on insert, finished_at
 * when the round reaches "eval".
 */
const upsertRound = (conn: DuckDBConnection, w: StageWrite, context: string) =>
  Effect.gen(function*() {
    const current = yield* readAll(conn, "SELECT stage FROM rounds WHERE run_id = $1 AND round = $2", [w.runId, w.round], context)
    const stage = current.currentRowCount > 0 ? later(w.stage, current.getRowsJS()[0][0] as Stage) : w.stage
    yield* exec(
      conn,
      `INSERT INTO rounds (run_id, round, policy_ckpt, ref_ckpt, output_ckpt, stage, started_at, finished_at)
       VALUES ($1, $2, $3, $4, $5, $6, now(), CASE WHEN $6 = 'eval' THEN now() END)
       ON CONFLICT (run_id, round) DO UPDATE SET
         policy_ckpt = coalesce(excluded.policy_ckpt, rounds.policy_ckpt),
         ref_ckpt = coalesce(excluded.ref_ckpt, rounds.ref_ckpt),
         output_ckpt = coalesce(excluded.output_ckpt, rounds.output_ckpt),
         stage = excluded.stage,
         finished_at = CASE WHEN excluded.stage = 'eval' THEN coalesce(rounds.finished_at, now()) ELSE rounds.finished_at END`,
      [w.runId, w.round, w.round_?.policyCkpt ?? null, w.round_?.refCkpt ?? null, w.round_?.outputCkpt ?? null, stage],
      context
    )
  })

/** Everything in `w`, then the stage marker, in one transaction: all of it lands or none of it. */
export const writeStage = (conn: DuckDBConnection, w: StageWrite): Effect.Effect<void, StoreError> => {
  const context = `recordStage(run ${w.runId}, round ${w.round}, stage ${w.stage})`
  if (!stages.includes(w.stage)) {
    return Effect.fail(new StoreError({ message: `${context}: unknown stage "${w.stage}"; stages are ${stages.join(", ")}` }))
  }
  return transaction(
    conn,
    Effect.gen(function*() {
      for (const [table, rows] of tableRows(w)) yield* appendRows(conn, table, rows, context)
      yield* upsertRound(conn, w, context)
    })
  )
}
