import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { toSvg, scopeIds } from "../src/Render.ts"
import { band, type SpecContext, withIntervals } from "../src/Specs.ts"
import { bootstrapInterval } from "../src/Statistics.ts"

const ctx: SpecContext = { arms: ["online", "offline"], tasks: ["bandit"] }
// Two arms, rounds 0–2: mean with a band (lo, hi given) over seeds.
const rows = ["online", "offline"].flatMap((arm, a) =>
  [0, 1, 2].map((round) => ({ task: "bandit", arm, round, metric: "gold reward", mean: 0.1 * round + a, lo: 0.1 * round + a - 0.05, hi: 0.1 * round + a + 0.05, seeds: 2 })))

describe("Render", () => {
  it.effect("a band chart renders to SVG in Node: one line and one band per arm, ids scoped to the chart", () =>
    Effect.gen(function*() {
      const svg = yield* toSvg("reward", band(rows, ctx, { x: "round", xTitle: "round", yTitle: "reward", colorBy: "arm" }))
      assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
      // the items of every mark group of a type (a line per series sits in a group of its own)
      const items = (type: string) =>
        [...svg.matchAll(new RegExp(`<g class="mark-${type} role-mark[^"]*"[^>]*>(.*?)</g>`, "g"))].reduce((n, m) => n + (m[1]!.match(/<path /g) ?? []).length, 0)
      assert.strictEqual(items("line"), 2)
      assert.strictEqual(items("area"), 2)
      assert.strictEqual(items("symbol"), 6) // points: 3 rounds × 2 arms
      assert.notMatch(svg, /<script|https?:\/\/(?!www\.w3\.org)/)
      for (const id of svg.matchAll(/\bid="([^"]+)"/g)) assert.match(id[1]!, /^reward-/)
    }))

  it("the band is the bootstrap interval of the mean over the seeds' values: min–max at 3 seeds, narrower at 10", () => {
    const three = [0.2, 0.7, 0.4]
    const ten = [0.747, 0.358, 0.76, 0.737, 0.702, 0.815, 0.69, 0.744, 0.801, 0.512]
    const [a, b, c] = withIntervals([
      { arm: "x", round: 1, mean: 13 / 30, seed_values: three },
      { arm: "x", round: 2, mean: 0.6866, seed_values: ten },
      { arm: "x", round: 3, mean: 0.5, lo: 0.4, hi: 0.6 }
    ])
    // each extreme of 3 seeds is resampled 3 times with probability 1/27 > 2.5 %: the interval is their range
    assert.closeTo(a!.lo as number, 0.2, 1e-12)
    assert.closeTo(a!.hi as number, 0.7, 1e-12)
    assert.isFalse("seed_values" in a!)
    const i = bootstrapInterval(ten)
    assert.deepStrictEqual([b!.lo, b!.hi], [i.lo, i.hi])
    assert.isAbove(b!.lo as number, 0.55) // the min is 0.358
    assert.isBelow(b!.hi as number, 0.78)
    assert.deepStrictEqual([c!.lo, c!.hi], [0.4, 0.6])
  })

  it("scopeIds rewrites ids and every reference to them", () => {
    assert.strictEqual(
      scopeIds(`<clipPath id="clip1"></clipPath><g clip-path="url(#clip1)"><use href="#clip1"/></g>`, "c"),
      `<clipPath id="c-clip1"></clipPath><g clip-path="url(#c-clip1)"><use href="#c-clip1"/></g>`
    )
  })

  it.effect("a spec Vega-Lite warns about fails with RenderError naming the chart", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(toSvg("broken", { data: { values: [{ x: 1 }] }, mark: "line", encoding: { x: { field: "x", type: "nonsense" } } }))
      assert.strictEqual(e._tag, "RenderError")
      assert.match(e.message, /^chart "broken" could not be rendered: /)
    }))
})
