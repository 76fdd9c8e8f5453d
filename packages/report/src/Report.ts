/** `odpo report`: every chart and table of a selection of runs, queried from the store and written as one HTML page. */
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { type Chart, charts } from "./Charts.ts"
import { escapeHtml, type Figure, page } from "./Html.ts"
import { toSvg } from "./Render.ts"
import { arms, type SelectedRun, type Selection } from "./Selection.ts"
import type { Row, SpecContext } from "./Specs.ts"
import { type Table, tables } from "./Tables.ts"

const objects = (result: RunStore.QueryResult): Array<Row> =>
  result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, typeof row[i] === "bigint" ? Number(row[i]) : row[i]])))

const list = (xs: ReadonlyArray<string>) => xs.join(", ")

/** Arms of the selection that have no row in a chart's data. */
const absentArms = (rows: ReadonlyArray<Row>, ctx: SpecContext) => {
  const present = new Set(rows.map((r) => r.arm))
  return ctx.arms.filter((a) => !present.has(a))
}

const chartFigure = Effect.fn("Report.chart")(function*(chart: Chart, runs: ReadonlyArray<SelectedRun>, ctx: SpecContext) {
  const sql = chart.sql(runs)
  const rows = objects(yield* (yield* RunStore.RunStore).query(sql))
  const base = { kind: "chart" as const, id: chart.id, title: chart.title, about: chart.about, sql }
  if (rows.length === 0) return { ...base, body: null, missing: [`Not drawn: ${chart.empty}.`] } satisfies Figure
  const absent = absentArms(rows, ctx)
  return {
    ...base,
    body: yield* toSvg(chart.id, chart.spec(rows, ctx)),
    missing: absent.length === 0 ? [] : [`Not in this chart: ${list(absent)} — ${chart.empty}.`]
  } satisfies Figure
})

const tableFigure = Effect.fn("Report.table")(function*(table: Table, runs: ReadonlyArray<SelectedRun>) {
  const sql = table.sql(runs)
  const rows = objects(yield* (yield* RunStore.RunStore).query(sql))
  const base = { kind: "table" as const, id: table.id, title: table.title, about: table.about, sql }
  return rows.length === 0
    ? ({ ...base, body: null, missing: [table.empty.endsWith(".") ? table.empty : `Nothing to show: ${table.empty}.`] } satisfies Figure)
    : ({ ...base, body: table.html(rows), missing: [] } satisfies Figure)
})

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

/** What a reader must know before the charts: tasks that do not compare, runs that are short or unfinished. */
export const notices = (runs: ReadonlyArray<SelectedRun>): Array<string> => {
  const out: Array<string> = []
  const tasks = [...new Set(runs.map((r) => r.task))]
  if (tasks.length > 1) {
    const counts = tasks.map((t) => `${t}: ${plural(runs.filter((r) => r.task === t).length, "run")}`)
    out.push(`These runs span ${tasks.length} tasks (${list(counts)}). Rewards of different tasks are not comparable, so the charts give each task its own row of panels and y scale.`)
  }
  const unevaluated = runs.filter((r) => r.lastRound === null)
  if (unevaluated.length > 0) out.push(`${list(unevaluated.map((r) => r.name))}: no held-out evaluation recorded yet (not even π₀), so ${unevaluated.length === 1 ? "it is" : "they are"} in no reward chart.`)
  const roundZero = runs.filter((r) => r.lastRound === 0)
  if (roundZero.length > 0) {
    out.push(`${list(roundZero.map((r) => r.name))} ${roundZero.length === 1 ? "has" : "have"} only round 0 (π₀ made and evaluated): nothing was sampled, paired or trained yet, so the pair, training and diagnostics charts have nothing from ${roundZero.length === 1 ? "it" : "them"}.`)
  }
  for (const r of runs.filter((r) => r.status !== "finished")) {
    out.push(`${r.name} is ${r.status === "running" ? "still running (or was killed)" : "failed"}: the report shows the rounds recorded so far (\`odpo resume ${r.runId}\` continues it).`)
  }
  return out
}

/** The runs table: one row per arm, its seeds and their runs. */
const runsTable = (selection: Selection) => ({
  head: ["arm", "task", "pairs from", "loss", "β", "seeds", "last round", "status", "runs"],
  rows: arms(selection).map((arm) => {
    const runs = selection.runs.filter((r) => r.arm === arm)
    const distinct = (f: (r: SelectedRun) => string) => escapeHtml(list([...new Set(runs.map(f))]))
    return [
      `<strong>${escapeHtml(arm)}</strong>`, distinct((r) => r.task), distinct((r) => r.pairSource), distinct((r) => r.loss),
      distinct((r) => String(r.beta)), escapeHtml(list(runs.map((r) => String(r.seed)))),
      distinct((r) => (r.lastRound === null ? "–" : String(r.lastRound))), distinct((r) => r.status),
      runs.map((r) => `<code>${escapeHtml(r.runId)}</code>`).join("<br>")
    ]
  })
})

/** The whole page for a selection of runs. */
export const build = Effect.fn("Report.build")(function*(selection: Selection) {
  const store = yield* RunStore.RunStore
  const runs = selection.runs
  const ctx: SpecContext = { arms: arms(selection), tasks: [...new Set(runs.map((r) => r.task))] }
  const figures: Array<Figure> = []
  for (const chart of charts) figures.push(yield* chartFigure(chart, runs, ctx))
  for (const table of tables) figures.push(yield* tableFigure(table, runs))
  return page({
    title: `odpo report — ${selection.label}`,
    subtitle: [`${plural(runs.length, "run")} in ${plural(ctx.arms.length, "arm")} · database ${store.file}`],
    notices: notices(runs),
    runs: runsTable(selection),
    figures
  })
})
