/** Vega-Lite spec → standalone SVG text, in Node at build time: the page needs no script and loads nothing. */
import { Effect } from "effect"
import { parse, View } from "vega"
import { compile, type TopLevelSpec } from "vega-lite"
import { RenderError } from "./Errors.ts"
import type { Spec } from "./Specs.ts"

const config = {
  font: "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif",
  background: "white",
  view: { stroke: "#ddd" },
  axis: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: "normal", gridColor: "#eee" },
  // a study's arm names (noise-sentiment-rdpo-e0.4) run past the default 160 px: keep them whole
  legend: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: "normal", labelLimit: 320 },
  header: { labelFontSize: 11 }
}

/**
 * SVG ids (clip paths, gradients) count from 1 in every view; inlined side by side in one page,
 * a `url(#clip1)` would resolve to the first chart's. Scope them by the chart's id.
 */
export const scopeIds = (svg: string, scope: string): string =>
  svg
    .replace(/\bid="([^"]+)"/g, (_, id) => `id="${scope}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id) => `url(#${scope}-${id})`)
    .replace(/href="#([^"]+)"/g, (_, id) => `href="#${scope}-${id}"`)

/**
 * Compile and render one chart. Vega-Lite's warnings (a dropped channel, an impossible scale)
 * mean the spec is wrong, so they fail the render rather than drawing something misleading.
 */
export const toSvg = (chart: string, spec: Spec): Effect.Effect<string, RenderError> =>
  Effect.tryPromise({
    try: async () => {
      const warnings: Array<string> = []
      const logger = {
        level: () => logger, error: (...m: Array<unknown>) => void warnings.push(m.join(" ")),
        warn: (...m: Array<unknown>) => void warnings.push(m.join(" ")), info: () => logger, debug: () => logger
      }
      const { spec: vg } = compile({ ...spec, config } as TopLevelSpec, { logger: logger as never })
      if (warnings.length > 0) throw new Error(`Vega-Lite: ${warnings.join("; ")}`)
      const view = new View(parse(vg), { renderer: "none" })
      try {
        return scopeIds(await view.toSVG(), chart)
      } finally {
        view.finalize()
      }
    },
    catch: (cause) => new RenderError({ chart, message: `chart "${chart}" could not be rendered: ${cause instanceof Error ? cause.message : String(cause)}`, cause })
  })
