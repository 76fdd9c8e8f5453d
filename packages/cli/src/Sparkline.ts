/** One-line sparklines (unicode blocks) of gold reward per round, printed under the run tables of `odpo run` and `odpo compare`. */
import type { RunStore } from "@odpo/core"

const blocks = "▁▂▃▄▅▆▇█"

/**
 * Values → one block each, scaled to [lo, hi] (pass the same range for lines that should be read
 * against each other); a missing value is a space, a flat range the lowest block.
 */
export const sparkline = (values: ReadonlyArray<number | null>, lo: number, hi: number): string =>
  values.map((v) => {
    if (v === null || !Number.isFinite(v)) return " "
    const t = hi > lo ? (v - lo) / (hi - lo) : 0
    return blocks[Math.max(0, Math.min(blocks.length - 1, Math.round(t * (blocks.length - 1))))]!
  }).join("")

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(3))

/**
 * A compare table's rows (columns round, name, gold_reward, run_id) → one line per run:
 * name, the sparkline of gold reward by round on a scale shared by all runs, first → last value.
 */
export const goldSparklines = (result: RunStore.QueryResult): string => {
  const col = (name: string) => result.columns.indexOf(name)
  const [round, name, gold, runId] = [col("round"), col("name"), col("gold_reward"), col("run_id")]
  if ([round, name, gold, runId].some((i) => i < 0) || result.rows.length === 0) return ""
  const runs = new Map<string, { name: string; byRound: Map<number, number | null> }>()
  for (const row of result.rows) {
    const id = String(row[runId])
    const entry = runs.get(id) ?? { name: String(row[name]), byRound: new Map() }
    entry.byRound.set(Number(row[round]), row[gold] === null ? null : Number(row[gold]))
    runs.set(id, entry)
  }
  const all = result.rows.map((r) => r[gold]).filter((v): v is number => typeof v === "number" && Number.isFinite(v))
  if (all.length === 0) return "gold reward by round: no gold reward recorded"
  const [lo, hi] = [Math.min(...all), Math.max(...all)]
  const width = Math.max(...[...runs.values()].map((r) => r.name.length))
  const lines = [...runs.values()].map(({ name: n, byRound }) => {
    const last = Math.max(...byRound.keys())
    const values = Array.from({ length: last + 1 }, (_, r) => byRound.get(r) ?? null)
    const known = values.filter((v): v is number => v !== null)
    return `  ${n.padEnd(width)}  ${sparkline(values, lo, hi)}  ${known.length > 0 ? `${fmt(known[0]!)} → ${fmt(known[known.length - 1]!)}` : ""}`
  })
  return [`gold reward by round (rounds 0…, one scale ${fmt(lo)}–${fmt(hi)}):`, ...lines].join("\n")
}
