/** `odpo export`: every table's rows that belong to some runs, one file per table, written by DuckDB's COPY (Parquet, CSV or JSON lines). */
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { join, resolve } from "node:path"
import { checkDirectoryOut, makeDirectory } from "./Output.ts"
import { inList, quote, type SelectedRun } from "./Selection.ts"

export const formats = ["parquet", "csv", "jsonl"] as const
export type ExportFormat = (typeof formats)[number]

// JSON lines is DuckDB's default JSON layout (one object per line); CSV gets a header row.
const copyOptions: Record<ExportFormat, string> = { parquet: "FORMAT parquet", csv: "FORMAT csv, HEADER true", jsonl: "FORMAT json" }

/**
 * Which rows of a table belong to the runs. Tables keyed by run_id filter on it; scores follow
 * their rollouts, prompts the rollouts that used them; checkpoints are every one the runs' rounds
 * name or record, with their ancestors (a shared π₀ is recorded under the run that made it first).
 */
const belongsTo = (table: string, columns: ReadonlyArray<string>, ids: string): string | null => {
  if (table === "scores") return `rollout_id IN (SELECT rollout_id FROM rollouts WHERE run_id IN ${ids})`
  if (table === "prompts") return `prompt_id IN (SELECT prompt_id FROM rollouts WHERE run_id IN ${ids})`
  if (table === "checkpoints") {
    return `ckpt_id IN (
  WITH RECURSIVE used(id) AS (
    SELECT unnest([policy_ckpt, ref_ckpt, output_ckpt]) FROM rounds WHERE run_id IN ${ids}
    UNION SELECT ckpt_id FROM checkpoints WHERE run_id IN ${ids}
    UNION SELECT c.parent FROM checkpoints c JOIN used ON c.ckpt_id = used.id WHERE c.parent IS NOT NULL
  )
  SELECT id FROM used WHERE id IS NOT NULL)`
  }
  return columns.includes("run_id") ? `run_id IN ${ids}` : null
}

export interface ExportedTable {
  readonly table: string
  readonly rows: number
  readonly file: string
}

export interface ExportResult {
  readonly tables: ReadonlyArray<ExportedTable>
  /** Tables with no link to a run (none today): left out, named so that nothing is dropped silently. */
  readonly skipped: ReadonlyArray<string>
}

/** The SQL that writes one table's rows of the runs to `file`. */
export const copySql = (table: string, filter: string, file: string, format: ExportFormat) =>
  `COPY (SELECT * FROM "${table}" WHERE ${filter} ORDER BY rowid) TO ${quote(file)} (${copyOptions[format]})`

/** Write every table of the runs into `dir` as `<table>.<format>`. */
export const exportRuns = Effect.fn("Export.exportRuns")(function*(runs: ReadonlyArray<SelectedRun>, format: ExportFormat, dir: string) {
  const store = yield* RunStore.RunStore
  yield* checkDirectoryOut(dir)
  yield* makeDirectory(dir)
  const columns = yield* store.query(`
    SELECT c.table_name, list(c.column_name ORDER BY c.column_index) AS columns
    FROM duckdb_columns() c JOIN duckdb_tables() t USING (database_name, schema_name, table_name)
    WHERE c.schema_name = 'main' AND c.table_name <> 'schema_version' AND NOT t.temporary
    GROUP BY c.table_name ORDER BY c.table_name`)
  const ids = inList(runs)
  const tables: Array<ExportedTable> = []
  const skipped: Array<string> = []
  const chosen: Array<{ readonly table: string; readonly filter: string; readonly file: string }> = []
  for (const [table, cols] of columns.rows as ReadonlyArray<[string, ReadonlyArray<string>]>) {
    const filter = belongsTo(table, cols, ids)
    if (filter === null) skipped.push(table)
    else chosen.push({ table, filter, file: resolve(join(dir, `${table}.${format}`)) })
  }
  // Every COPY in one statement list: one snapshot of the store, consistent across tables; then their row counts.
  yield* store.query(chosen.map((c) => copySql(c.table, c.filter, c.file, format)).join(";\n"), { files: true })
  const counts = yield* store.query(chosen.map((c) => `SELECT '${c.table}', count(*) FROM "${c.table}" WHERE ${c.filter}`).join("\nUNION ALL "))
  const count = new Map(counts.rows.map((r) => [String(r[0]), Number(r[1])]))
  for (const c of chosen) tables.push({ table: c.table, rows: count.get(c.table) ?? 0, file: c.file })
  return { tables, skipped } satisfies ExportResult
})
