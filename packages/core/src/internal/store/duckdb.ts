/**
 * @duckdb/node-api, loaded on first use (not when @odpo/core loads: `odpo --help` never opens a
 * store) and by require: it is CommonJS, and an ESM import would first scan it for its exports.
 */
import { createRequire } from "node:module"

type DuckDB = typeof import("@duckdb/node-api")
let api: DuckDB | undefined

export const duckdb = (): DuckDB => (api ??= createRequire(import.meta.url)("@duckdb/node-api") as DuckDB)
