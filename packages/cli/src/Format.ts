/** Renders query results as an aligned table, CSV or JSON for the terminal. */
import type { RunStore } from "@odpo/core"

type QueryResult = RunStore.QueryResult

/**
 * One number format per column, chosen from all its values: integers as integers; else four
 * decimals, or, when the column's largest magnitude is ≥ 1e4 or below 1e-3, four significant
 * digits in exponent form — so 1 and 0.5 read alike, and a column of tiny values stays legible.
 */
type NumberFormat = (v: number) => string
const columnFormat = (values: ReadonlyArray<unknown>): NumberFormat => {
  const nums = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v))
  if (nums.every(Number.isInteger)) return String
  // The column's scale decides: fixed decimals unless its largest magnitude is huge or tiny.
  const largest = nums.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
  const wide = largest >= 1e4 || (largest > 0 && largest < 1e-3)
  return wide ? (v) => (Number.isFinite(v) ? v.toExponential(3) : String(v)) : (v) => (Number.isFinite(v) ? v.toFixed(4) : String(v))
}

const cell = (v: unknown, num: NumberFormat = columnFormat([v])): string => {
  if (v === null || v === undefined) return ""
  if (typeof v === "number") return num(v)
  if (typeof v === "bigint") return v.toString()
  if (Array.isArray(v)) {
    const inner = columnFormat(v)
    return `[${v.map((x) => cell(x, inner)).join(", ")}]`
  }
  if (typeof v === "object") return JSON.stringify(v)
  return String(v)
}

export const formatTable = (result: QueryResult, maxWidth = 48): string => {
  const clip = (s: string) => (s.length > maxWidth ? s.slice(0, maxWidth - 1) + "…" : s)
  const formats = result.columns.map((_, i) => columnFormat(result.rows.map((r) => r[i])))
  const rows = result.rows.map((r) => r.map((v, i) => clip(cell(v, formats[i]))))
  const widths = result.columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)))
  const numeric = result.columns.map((_, i) => result.rows.every((r) => r[i] === null || typeof r[i] === "number" || typeof r[i] === "bigint"))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(result.columns), widths.map((w) => "─".repeat(w)).join("  "), ...rows.map(line), `(${result.rows.length} row${result.rows.length === 1 ? "" : "s"})`].join("\n")
}

const csvCell = (v: unknown): string => {
  const s = typeof v === "string" ? v : v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v)
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

export const formatCsv = (result: QueryResult): string =>
  [result.columns.map(csvCell).join(","), ...result.rows.map((r) => r.map(csvCell).join(","))].join("\n")

export const formatJson = (result: QueryResult): string =>
  JSON.stringify(result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c, typeof r[i] === "bigint" ? Number(r[i]) : r[i]]))), null, 2)

/** A word for a POSIX shell: as is when it is plain, else in single quotes (a quote inside as '\''). */
export const shellQuote = (word: string): string =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`

export const formats = { table: formatTable, csv: formatCsv, json: formatJson } as const
export type Format = keyof typeof formats
