/**
 * Statistics over seeds: the mean with a seeded percentile-bootstrap interval, the paired
 * difference of two arms (seeds matched) with its interval and an exact sign-flip p-value, and
 * the verdict rule of experiments/README.md. Pure functions, checked against numpy/scipy
 * (packages/report/test/fixtures/statistics.json, made by scripts/statistics_reference.py).
 */
import { Seeds } from "@odpo/core"

/** How an interval is drawn: B resamples of the seeds from mulberry32(seed), a central `level` interval. */
export interface BootstrapOptions {
  readonly resamples: number
  readonly seed: number
  readonly level: number
}

export const defaultBootstrap: BootstrapOptions = { resamples: 10_000, seed: 0, level: 0.95 }

export const mean = (xs: ReadonlyArray<number>): number => xs.reduce((s, x) => s + x, 0) / xs.length

/** The q-quantile of ascending `sorted`, linear between order statistics (numpy's default, Hyndman–Fan type 7). */
export const quantile = (sorted: ReadonlyArray<number>, q: number): number => {
  const h = (sorted.length - 1) * q
  const lo = Math.floor(h)
  const hi = Math.min(lo + 1, sorted.length - 1)
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!)
}

/**
 * The bootstrap distribution of the mean: resample b draws n indices i = ⌊u·n⌋ from one
 * mulberry32 stream (u uniform in [0, 1)), b = 0 … B−1 in order, and averages xs at them.
 * The same (xs, B, seed) give the same means — and numpy, fed the same indices, the same numbers.
 */
export const bootstrapMeans = (xs: ReadonlyArray<number>, o: Pick<BootstrapOptions, "resamples" | "seed">): Float64Array => {
  const rand = Seeds.mulberry32(o.seed)
  const n = xs.length
  const out = new Float64Array(o.resamples)
  for (let b = 0; b < o.resamples; b++) {
    let sum = 0
    for (let i = 0; i < n; i++) sum += xs[Math.floor(rand() * n)]!
    out[b] = sum / n
  }
  return out
}

/** A mean and its interval; lo = hi = mean for one seed (no spread to resample), NaN for none. */
export interface Interval {
  readonly n: number
  readonly mean: number
  readonly lo: number
  readonly hi: number
}

/** Mean of xs with its percentile-bootstrap interval: the (1−level)/2 and (1+level)/2 quantiles of the resampled means. */
export const bootstrapInterval = (xs: ReadonlyArray<number>, o: BootstrapOptions = defaultBootstrap): Interval => {
  if (xs.length === 0) return { n: 0, mean: NaN, lo: NaN, hi: NaN }
  const m = mean(xs)
  if (xs.length === 1) return { n: 1, mean: m, lo: m, hi: m }
  const sorted = Array.from(bootstrapMeans(xs, o)).sort((a, b) => a - b)
  return { n: xs.length, mean: m, lo: quantile(sorted, (1 - o.level) / 2), hi: quantile(sorted, (1 + o.level) / 2) }
}

/** Seeds enumerated exactly up to this many (2^20 sign vectors); beyond, a seeded Monte Carlo of 100 000 flips. */
const exactUpTo = 20

/**
 * Two-sided sign-flip (paired permutation) p-value of mean(d) = 0: under the null each seed's
 * difference is as likely negated, so p is the share of the 2^n sign vectors s with
 * |Σ sᵢdᵢ| ≥ |Σ dᵢ|. Exact for n ≤ 20 — its smallest value is 2/2^n (0.25 at 3 seeds, 0.002 at 10).
 * A relative tolerance of 1e-9 counts float ties as ties.
 */
export const signFlipPValue = (d: ReadonlyArray<number>, seed = 0): number => {
  const n = d.length
  if (n === 0) return NaN
  const observed = Math.abs(d.reduce((s, x) => s + x, 0))
  const tol = 1e-9 * Math.max(1, d.reduce((s, x) => s + Math.abs(x), 0))
  let extreme = 0
  if (n <= exactUpTo) {
    const total = 2 ** n
    for (let mask = 0; mask < total; mask++) {
      let s = 0
      for (let i = 0; i < n; i++) s += (mask >> i) & 1 ? -d[i]! : d[i]!
      if (Math.abs(s) >= observed - tol) extreme++
    }
    return extreme / total
  }
  const rand = Seeds.mulberry32(seed)
  const flips = 100_000
  for (let k = 0; k < flips; k++) {
    let s = 0
    for (let i = 0; i < n; i++) s += rand() < 0.5 ? -d[i]! : d[i]!
    if (Math.abs(s) >= observed - tol) extreme++
  }
  return (extreme + 1) / (flips + 1)
}

/** A paired comparison of arm A against arm B over the seeds both have. */
export interface Paired extends Interval {
  /** The matched seeds, ascending. */
  readonly seeds: ReadonlyArray<number>
  /** A − B per matched seed, in the order of `seeds`. */
  readonly differences: ReadonlyArray<number>
  readonly meanA: number
  readonly meanB: number
  readonly p: number
}

/** A − B per seed both arms have (seed → value maps), with the bootstrap interval of the mean difference and its sign-flip p. */
export const paired = (a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>, o: BootstrapOptions = defaultBootstrap): Paired => {
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y)
  const differences = seeds.map((s) => a.get(s)! - b.get(s)!)
  return {
    ...bootstrapInterval(differences, o),
    seeds,
    differences,
    meanA: mean(seeds.map((s) => a.get(s)!)),
    meanB: mean(seeds.map((s) => b.get(s)!)),
    p: signFlipPValue(differences, o.seed)
  }
}

export type Direction = "greater" | "less" | "equal"
export type Verdict = "holds" | "contradicted" | "not detected"

/**
 * The verdict rule (experiments/README.md, "Verdicts"): a claim that A − B is `direction` than 0
 * holds when the paired interval excludes 0 on that side, is contradicted when it excludes 0 on
 * the other, and is not detected otherwise. An interval touching 0 does not exclude it. A claimed
 * tie (`equal`) cannot hold by this rule: it is contradicted when the interval excludes 0 on
 * either side, and otherwise no difference is detected — the interval says how large one could be.
 */
export const verdict = (interval: Pick<Interval, "lo" | "hi">, direction: Direction): Verdict => {
  const above = interval.lo > 0
  const below = interval.hi < 0
  if (direction === "equal") return above || below ? "contradicted" : "not detected"
  if (direction === "greater") return above ? "holds" : below ? "contradicted" : "not detected"
  return below ? "holds" : above ? "contradicted" : "not detected"
}
