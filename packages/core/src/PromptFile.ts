/**
 * A user's data file — JSONL, JSON, Parquet or CSV — read by DuckDB's own readers (read_json_auto,
 * read_parquet, read_csv) into plain rows, with its columns and the SHA-256 of its bytes.
 */
import type { DuckDBConnection } from "@duckdb/node-api"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { existsSync, readFileSync, statSync } from "node:fs"
import { extname } from "node:path"
import { InvalidInput } from "./Errors.ts"
import { duckdb } from "./internal/store/duckdb.ts"

export interface DataFile {
  readonly file: string
  readonly sha256: string
  /** Column names in the file's order. */
  readonly columns: ReadonlyArray<string>
  /** Each row as JSON values (DuckDB's to_json: nested lists and structs included). */
  readonly rows: ReadonlyArray<Record<string, unknown>>
}

/** The DuckDB table function that reads a file of this extension. */
const READERS: Record<string, string> = {
  ".jsonl": "read_json_auto",
  ".ndjson": "read_json_auto",
  ".json": "read_json_auto",
  ".parquet": "read_parquet",
  ".csv": "read_csv",
  ".tsv": "read_csv"
}

export const sha256File = (file: string): string => createHash("sha256").update(readFileSync(file)).digest("hex")

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`

const withConnection = <A>(use: (conn: DuckDBConnection) => Promise<A>): Promise<A> =>
  duckdb().DuckDBInstance.create(":memory:").then(async (instance) => {
    const conn = await instance.connect()
    try {
      return await use(conn)
    } finally {
      conn.closeSync()
      instance.closeSync()
    }
  })

/**
 * Read `file` (what: "train file", "eval file", … for messages). A missing file, an extension
 * DuckDB is not given a reader for, an unreadable or empty file: InvalidInput naming the file.
 */
export const readDataFile = (file: string, what: string): Effect.Effect<DataFile, InvalidInput> =>
  Effect.gen(function*() {
    if (!existsSync(file) || !statSync(file).isFile()) {
      return yield* new InvalidInput({ message: `${what} ${file} does not exist (paths are relative to the working directory)` })
    }
    const reader = READERS[extname(file).toLowerCase()]
    if (!reader) {
      return yield* new InvalidInput({
        message: `${what} ${file}: unknown extension "${extname(file)}"; name a ${Object.keys(READERS).join(", ")} file`
      })
    }
    if (statSync(file).size === 0) return yield* new InvalidInput({ message: `${what} ${file} is empty: it holds no rows` })
    const sha256 = sha256File(file)
    const source = `${reader}(${sqlString(file)})`
    const read = yield* Effect.tryPromise({
      try: () =>
        withConnection(async (conn) => {
          const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)
          const columns = described.getRowObjectsJS().map((r) => String(r.column_name))
          const result = await conn.runAndReadAll(`SELECT to_json(t)::VARCHAR AS row FROM ${source} t`)
          const rows = result.getRowsJS().map((r) => JSON.parse(String(r[0])) as Record<string, unknown>)
          return { columns, rows }
        }),
      catch: (cause) => new InvalidInput({ message: `${what} ${file}: DuckDB cannot read it: ${cause instanceof Error ? cause.message : String(cause)}` })
    })
    if (read.rows.length === 0) return yield* new InvalidInput({ message: `${what} ${file} holds no rows` })
    return { file, sha256, ...read }
  })

/** The column `name` must be one of the file's: else an error listing the columns it has. */
export const requireColumn = (data: DataFile, name: string, what: string, field: string): Effect.Effect<void, InvalidInput> =>
  data.columns.includes(name)
    ? Effect.void
    : Effect.fail(new InvalidInput({
      message: `${what} ${data.file} has no column "${name}"; its columns are ${data.columns.map((c) => `"${c}"`).join(", ")}: set ${field} to one of them`
    }))
