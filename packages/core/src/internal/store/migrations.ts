/** The run store's schema versions: an ordered list of migrations, applied on open, each once. */
import type { DuckDBConnection } from "@duckdb/node-api"
import { Effect } from "effect"
import { dirname, resolve } from "node:path"
import { StoreError } from "../../Errors.ts"
import { exec, readAll, transaction } from "./connection.ts"
import { reportViews } from "./reportViews.ts"
import { enginesV3, pairFlipsV6, tablesV1 } from "./schema.ts"
import { roundCostsV7, viewsV2 } from "./views.ts"
import { trustV8 } from "./trust.ts"
import { policyGradientSql } from "./policyGradient.ts"
import { promptsV9 } from "./promptsV9.ts"

export interface Migration {
  readonly version: number
  readonly name: string
  /** The migration's SQL; a function of the database's folder where it rewrites paths under it. */
  readonly sql: string | ((dir: string) => string)
}

/** Never edit a released migration: add the next one. */
export const migrations: ReadonlyArray<Migration> = [
  { version: 1, name: "tables", sql: tablesV1 },
  { version: 2, name: "views", sql: viewsV2 },
  { version: 3, name: "engines and stage times", sql: enginesV3 },
  { version: 4, name: "report views", sql: reportViews },
  { version: 5, name: "policy gradient", sql: policyGradientSql },
  { version: 6, name: "pair label flips", sql: pairFlipsV6 },
  { version: 7, name: "round costs", sql: roundCostsV7 },
  { version: 8, name: "relative paths and newest runs", sql: trustV8 },
  { version: 9, name: "user prompts", sql: promptsV9 }
]

export const currentVersion = Math.max(...migrations.map((m) => m.version))

/** The file's schema version; 0 for a new (empty) file. Reads only, so it works on a read-only open. */
export const schemaVersion = (conn: DuckDBConnection): Effect.Effect<number, StoreError> =>
  Effect.gen(function*() {
    const exists = yield* readAll(
      conn,
      "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'schema_version'"
    )
    if (Number(exists.getRows()[0][0]) === 0) return 0
    const v = yield* readAll(conn, "SELECT coalesce(max(version), 0) FROM schema_version")
    return Number(v.getRows()[0][0])
  })

/**
 * Bring the file up to `upTo` (default: the newest version), one transaction per migration, so a
 * crash leaves the file at the last whole version. A file already there is not written at all.
 */
export const migrate = (
  conn: DuckDBConnection,
  file: string,
  upTo: number = currentVersion
): Effect.Effect<number, StoreError> =>
  Effect.gen(function*() {
    const at = yield* schemaVersion(conn)
    // Versions are applied by set, not by their maximum: a file at 9 still takes an 8 added later.
    const applied = at === 0 || at >= currentVersion ? new Set<number>(migrations.filter((m) => m.version <= at).map((m) => m.version)) : new Set((yield* readAll(conn, "SELECT version FROM schema_version")).getRowsJS().map((r) => Number(r[0])))
    if (at > currentVersion) {
      return yield* new StoreError({
        message: `the run store ${file} is at schema version ${at}, newer than this odpo knows (${currentVersion}): upgrade odpo to use it`
      })
    }
    for (const m of migrations) {
      if (applied.has(m.version) || m.version > upTo) continue
      yield* transaction(
        conn,
        Effect.gen(function*() {
          if (m.version === 1) {
            yield* exec(conn, "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
          }
          const sql = typeof m.sql === "string" ? m.sql : m.sql(dirname(resolve(file)))
          yield* exec(conn, sql, undefined, `migration ${m.version} (${m.name}) of ${file}`)
          yield* exec(conn, "INSERT INTO schema_version (version, name) VALUES ($1, $2)", [m.version, m.name])
        })
      )
    }
    return Math.max(at, Math.min(upTo, currentVersion))
  })
