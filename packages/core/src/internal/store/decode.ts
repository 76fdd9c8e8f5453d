/** Turning DuckDB result rows into plain JS values, and into the RunStore's row records through their Schemas (StoreRows.ts). */
import type { DuckDBResultReader } from "@duckdb/node-api"
import { Effect, Schema } from "effect"
import { StoreError } from "../../Errors.ts"
import type { QueryResult, RolloutWrite } from "../../StoreRows.ts"
import { RolloutRow } from "../../StoreRows.ts"
/**
 * A DuckDB value as plain JS: integers as numbers when they are safe integers (BIGINT / HUGEINT
 * results such as count(*) included; larger ones stay bigint), timestamps as ISO-8601 strings
 * (UTC), lists as arrays, structs as objects, BLOBs as Uint8Array.
 */
export const toPlain = (value: unknown): unknown => {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value
  }
  if (value === null || typeof value !== "object") return value
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return value.map(toPlain)
  if (ArrayBuffer.isView(value)) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = toPlain(v)
  return out
}

const parseJson = (text: unknown): unknown => {
  if (typeof text !== "string") return text
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** A whole result as columns + plain rows; columns of DuckDB's JSON type come back parsed. */
export const toQueryResult = (reader: DuckDBResultReader): QueryResult => {
  const columns = reader.columnNames()
  const isJson = columns.map((_, i) => reader.columnType(i).alias === "JSON")
  const rows = reader.getRowsJS().map((row) => row.map((v, i) => (isJson[i] ? parseJson(v) : toPlain(v))))
  return { columns, rows }
}

type Row = Record<string, unknown>

/** Rows as objects keyed by column name, with plain values. */
export const rowObjects = (reader: DuckDBResultReader): ReadonlyArray<Row> =>
  reader.getRowObjectsJS().map((row) => toPlain(row) as Row)

/** runId → run_id: a record's field names are its table's column names in camelCase. */
const column = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/**
 * Decode rows of a table with a record Schema whose fields name the columns (in camelCase). A row
 * that does not fit is a StoreError naming the table and the field (a database written by another
 * tool, or a schema change without its migration).
 */
export const decodeRows = <S extends Schema.Struct<Schema.Struct.Fields>>(schema: S, table: string) => {
  const mapping = Object.fromEntries(Object.keys(schema.fields).map((f) => [f, column(f)]))
  const fromColumns = Schema.Array(schema.pipe(Schema.encodeKeys(mapping as never))) as unknown as Schema.Codec<ReadonlyArray<S["Type"]>, unknown>
  const decode = Schema.decodeUnknownEffect(fromColumns)
  return (rows: ReadonlyArray<Row>): Effect.Effect<ReadonlyArray<S["Type"]>, StoreError> =>
    decode(rows).pipe(Effect.mapError((error) => new StoreError({ message: `a row of ${table} does not read as expected: ${error.message}`, cause: error })))
}

const rollouts = decodeRows(RolloutRow, "rollouts")

/** Rollouts: the flat sampling-parameter columns become the record's `params`. */
export const rolloutRows = (rows: ReadonlyArray<Row>): Effect.Effect<ReadonlyArray<RolloutWrite>, StoreError> =>
  Effect.map(rollouts(rows), (decoded) =>
    decoded.map(({ temperature, topK, topP, minP, repetitionPenalty, maxNewTokens, stop, ...r }) => ({
      ...r,
      params: { temperature, topK, topP, minP, repetitionPenalty, maxNewTokens, stop }
    })))
