// Statistics.ts against numbers numpy and scipy computed on fixed data (scripts/statistics_reference.py,
// committed as fixtures/statistics.json): the same mulberry32 indices give the same bootstrap
// interval to rounding; the sign-flip p-value is exact, so it must match exactly.
import { assert, describe, it } from "@effect/vitest"
import { Seeds } from "@odpo/core"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Statistics from "../src/Statistics.ts"

interface Boot { readonly mean: number; readonly lo: number; readonly hi: number; readonly first_means: ReadonlyArray<number> }
interface Case {
  readonly name: string
  readonly a: ReadonlyArray<number>
  readonly b: ReadonlyArray<number>
  readonly resamples: number
  readonly seed: number
  readonly mean_a: Boot
  readonly difference: Boot
  readonly p: number
  readonly p_scipy: number | null
}
const reference = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures/statistics.json"), "utf8")) as {
  readonly mulberry32_seed0_first: ReadonlyArray<number>
  readonly cases: ReadonlyArray<Case>
  readonly ties: { readonly d: ReadonlyArray<number>; readonly p: number }
  readonly quantiles: { readonly xs: ReadonlyArray<number>; readonly q: ReadonlyArray<number>; readonly values: ReadonlyArray<number> }
}

const close = (actual: number, expected: number, what: string, tol = 1e-12) =>
  assert.isTrue(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs numpy ${expected}`)

describe("Statistics", () => {
  it("draws from the same mulberry32 stream the Python reference reimplements", () => {
    const rand = Seeds.mulberry32(0)
    for (const [i, u] of reference.mulberry32_seed0_first.entries()) assert.strictEqual(rand(), u, `draw ${i}`)
  })

  it("quantiles interpolate linearly between order statistics, as numpy's default", () => {
    const sorted = [...reference.quantiles.xs].sort((a, b) => a - b)
    reference.quantiles.q.forEach((q, i) => close(Statistics.quantile(sorted, q), reference.quantiles.values[i]!, `q = ${q}`))
  })

  for (const c of reference.cases) {
    it(`${c.name}: mean, bootstrap interval, paired difference and p-value match numpy / scipy`, () => {
      const o = { resamples: c.resamples, seed: c.seed, level: 0.95 }
      const means = Statistics.bootstrapMeans(c.a, o)
      c.mean_a.first_means.forEach((m, i) => close(means[i]!, m, `resample ${i}`))
      const ia = Statistics.bootstrapInterval(c.a, o)
      close(ia.mean, c.mean_a.mean, "mean")
      close(ia.lo, c.mean_a.lo, "lo", 1e-9)
      close(ia.hi, c.mean_a.hi, "hi", 1e-9)
      const seeds = (xs: ReadonlyArray<number>) => new Map(xs.map((x, i) => [i, x]))
      const pair = Statistics.paired(seeds(c.a), seeds(c.b), o)
      assert.strictEqual(pair.n, c.a.length)
      close(pair.mean, c.difference.mean, "difference", 1e-12)
      close(pair.lo, c.difference.lo, "difference lo", 1e-9)
      close(pair.hi, c.difference.hi, "difference hi", 1e-9)
      assert.strictEqual(pair.p, c.p)
      if (c.p_scipy !== null) assert.strictEqual(pair.p, c.p_scipy)
    })
  }

  it("the sign-flip p-value counts ties with the observed sum as extreme, and bottoms out at 2/2^n", () => {
    assert.strictEqual(Statistics.signFlipPValue(reference.ties.d), reference.ties.p)
    assert.strictEqual(Statistics.signFlipPValue([0.1, 0.2, 0.3]), 0.25)
    assert.strictEqual(Statistics.signFlipPValue([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), 2 / 1024)
    assert.strictEqual(Statistics.signFlipPValue([0, 0, 0]), 1)
  })

  it("pairs only the seeds both arms have", () => {
    const p = Statistics.paired(new Map([[0, 1], [1, 2], [2, 4]]), new Map([[1, 1], [2, 1], [5, 9]]), { resamples: 100, seed: 0, level: 0.95 })
    assert.deepStrictEqual(p.seeds, [1, 2])
    assert.deepStrictEqual(p.differences, [1, 3])
    assert.strictEqual(p.mean, 2)
    assert.strictEqual(p.meanA, 3)
    assert.strictEqual(p.meanB, 1)
  })

  it("the verdict rule: holds, contradicted or not detected by where the interval lies", () => {
    assert.strictEqual(Statistics.verdict({ lo: 0.01, hi: 0.2 }, "greater"), "holds")
    assert.strictEqual(Statistics.verdict({ lo: 0.01, hi: 0.2 }, "less"), "contradicted")
    assert.strictEqual(Statistics.verdict({ lo: -0.2, hi: -0.01 }, "less"), "holds")
    assert.strictEqual(Statistics.verdict({ lo: -0.2, hi: -0.01 }, "greater"), "contradicted")
    assert.strictEqual(Statistics.verdict({ lo: 0, hi: 0.2 }, "greater"), "not detected")
    assert.strictEqual(Statistics.verdict({ lo: -0.1, hi: 0.2 }, "less"), "not detected")
    // a tie cannot hold: it is contradicted by an interval off 0 on either side
    assert.strictEqual(Statistics.verdict({ lo: -0.1, hi: 0.2 }, "equal"), "not detected")
    assert.strictEqual(Statistics.verdict({ lo: 0.01, hi: 0.2 }, "equal"), "contradicted")
    assert.strictEqual(Statistics.verdict({ lo: -0.2, hi: -0.01 }, "equal"), "contradicted")
  })

  it("one seed has no spread to resample; none has no mean", () => {
    assert.deepStrictEqual(Statistics.bootstrapInterval([0.4]), { n: 1, mean: 0.4, lo: 0.4, hi: 0.4 })
    assert.isTrue(Number.isNaN(Statistics.bootstrapInterval([]).mean))
  })
})
