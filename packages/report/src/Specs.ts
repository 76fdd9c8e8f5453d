/** Vega-Lite specs of the report's chart kinds: seeds as a mean line in a bootstrap band, stacked bars, the reward–KL frontier. */
import { bootstrapInterval } from "./Statistics.ts"

/** A Vega-Lite spec as plain JSON (vega-lite's own compile checks it; Render.ts fails on its warnings). */
export type Spec = Record<string, unknown>
export type Row = Record<string, unknown>

/** What a spec needs to know about the selection: arms fix the colours, several tasks split the y scales. */
export interface SpecContext {
  readonly arms: ReadonlyArray<string>
  readonly tasks: ReadonlyArray<string>
}

const width = 300
const height = 190

// Tableau 10, the Vega default, listed so that an arm has the same colour in every chart.
const palette = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"]

// Legend symbols drawn as solid lines: the band layer comes first and would lend them its pale fill.
const legend = { symbolType: "stroke", symbolStrokeWidth: 2.5, symbolOpacity: 1 }

const armColor = (ctx: SpecContext) => ({
  field: "arm",
  type: "nominal",
  title: "arm",
  scale: { domain: ctx.arms, range: ctx.arms.map((_, i) => palette[i % palette.length]) },
  legend
})

// One dash pattern per arm beside its colour: arms with equal values draw one line on another, and
// a dashed line over a solid one still shows both.
const dashes = [[1, 0], [7, 3], [2, 2], [9, 3, 2, 3], [4, 4], [12, 3], [1, 3], [6, 2, 1, 2], [3, 6], [10, 5]]

const armDash = (ctx: SpecContext) => ({
  field: "arm",
  type: "nominal",
  title: "arm",
  scale: { domain: ctx.arms, range: ctx.arms.map((_, i) => dashes[i % dashes.length]) },
  legend
})

const metricColor = (metrics: ReadonlyArray<string>, colors?: ReadonlyArray<string>, lines = true) => ({
  field: "metric",
  type: "nominal",
  title: null,
  scale: colors ? { domain: metrics, range: colors } : { domain: metrics },
  ...(lines ? { legend } : {})
})

/**
 * Put `inner` (a unit or layer spec) on the rows, split into panels: one per value of `by`
 * (wrapped two to a row), and one row per task when the runs span several tasks — rewards of
 * different tasks do not share a scale. Panels by arm need no task rows: each arm has one task.
 */
const paneled = (rows: ReadonlyArray<Row>, ctx: SpecContext, inner: Spec, by?: "metric" | "arm", independentY = false, order?: ReadonlyArray<string>): Spec => {
  const data = { values: rows }
  const several = ctx.tasks.length > 1
  if (!several && by === undefined) return { data, ...inner }
  const y = independentY || several ? "independent" : "shared"
  const panel = { field: by, type: "nominal", title: null, sort: by === "arm" ? ctx.arms : order ?? "ascending" }
  // An arm belongs to one task: its panels wrap, each with the y scale of its task.
  if (!several || by === "arm") return { data, facet: panel, columns: 2, spec: inner, resolve: { scale: { y } } }
  const facet = { row: { field: "task", type: "nominal", title: "task" }, ...(by ? { column: panel } : {}) }
  return { data, facet, spec: inner, resolve: { scale: { y } } }
}

export interface BandOptions {
  readonly x: "round" | "global_step"
  readonly xTitle: string
  readonly yTitle: string
  /** Colour by arm (one line per arm), or by metric (one line per series, panels by arm). */
  readonly colorBy: "arm" | "metric"
  readonly panelsBy?: "metric" | "arm"
  readonly independentY?: boolean
  /** A dashed rule at this y (a diagnostic's threshold). */
  readonly threshold?: number
  /** Series order (legend, or panels when panelling by metric) and colours when colouring by metric. */
  readonly metrics?: ReadonlyArray<string>
  readonly colors?: ReadonlyArray<string>
}

/**
 * Rows {task, arm, metric, <x>, mean, seed_values, seeds} → the same with `lo`, `hi`: the
 * bootstrap 95 % interval of the mean over the seeds' values (Statistics.defaultBootstrap), in
 * place of the values themselves.
 */
export const withIntervals = (rows: ReadonlyArray<Row>): Array<Row> =>
  rows.map(({ seed_values, ...r }) => {
    if (!Array.isArray(seed_values)) return r
    const i = bootstrapInterval(seed_values.map(Number))
    return { ...r, lo: i.lo, hi: i.hi }
  })

/**
 * Rows {task, arm, metric, <x>, mean, seed_values, seeds}: the mean over seeds as a line (with
 * points when the series are short), the bootstrap interval of that mean as a band behind it.
 */
export const band = (perSeed: ReadonlyArray<Row>, ctx: SpecContext, o: BandOptions): Spec => {
  const rows = withIntervals(perSeed)
  const color = o.colorBy === "arm" ? armColor(ctx) : metricColor(o.metrics ?? [...new Set(rows.map((r) => String(r.metric)))], o.colors)
  const x = { field: o.x, type: "quantitative", title: o.xTitle, axis: { tickMinStep: 1, format: "d" } }
  const y = { type: "quantitative", title: o.yTitle, axis: { format: "~g" } }
  const xs = new Set(rows.map((r) => r[o.x]))
  const layer: Array<Spec> = [
    // A NULL mean (a round the series lacks between two it has) breaks the line and the band there.
    { mark: { type: "area", opacity: 0.18, invalid: "break-paths-show-domains" }, encoding: { x, y: { ...y, field: "lo" }, y2: { field: "hi" }, color } },
    {
      mark: { type: "line", point: xs.size <= 16, strokeWidth: 1.8, invalid: "break-paths-show-domains" },
      encoding: { x, y: { ...y, field: "mean" }, color, ...(o.colorBy === "arm" ? { strokeDash: armDash(ctx) } : {}) }
    }
  ]
  if (o.threshold !== undefined) {
    layer.push({ mark: { type: "rule", strokeDash: [4, 4], color: "#b22222" }, encoding: { y: { datum: o.threshold } } })
  }
  return paneled(rows, ctx, { width, height, layer }, o.panelsBy, o.independentY, o.metrics)
}

/** Rows {task, arm, round, metric, mean}: the mean count per round as stacked bars, one panel per arm. */
export const stackedBars = (rows: ReadonlyArray<Row>, ctx: SpecContext, metrics: ReadonlyArray<string>, colors: ReadonlyArray<string>, yTitle: string): Spec =>
  paneled(rows, ctx, {
    width,
    height,
    mark: { type: "bar" },
    encoding: {
      x: { field: "round", type: "ordinal", title: "round", axis: { labelAngle: 0 } },
      y: { field: "mean", type: "quantitative", title: yTitle, stack: "zero" },
      color: metricColor(metrics, colors, false),
      order: { field: "order", type: "quantitative" }
    }
  }, "arm")

/**
 * Rows {task, arm, beta, round, kl, gold, label}: the DPO paper's frontier — one point per round
 * and arm, joined in round order, the last round labelled; β as the point shape when it varies.
 */
export const frontier = (rows: ReadonlyArray<Row>, ctx: SpecContext): Spec => {
  const x = { field: "kl", type: "quantitative", title: "KL(π ‖ π_ref), nats per sequence" }
  const y = { field: "gold", type: "quantitative", title: "held-out gold reward" }
  const color = armColor(ctx)
  const betas = new Set(rows.map((r) => r.beta))
  const shape = betas.size > 1 ? { shape: { field: "beta", type: "nominal", title: "β" } } : {}
  return paneled(rows, ctx, {
    width: 420,
    height: 260,
    layer: [
      { mark: { type: "line", opacity: 0.55 }, encoding: { x, y, color, order: { field: "round", type: "quantitative" } } },
      { mark: { type: "point", filled: true, size: 45 }, encoding: { x, y, color, ...shape } },
      { mark: { type: "text", dx: 9, dy: -7, fontSize: 10 }, encoding: { x, y, color, text: { field: "label", type: "nominal" } } }
    ]
  })
}
