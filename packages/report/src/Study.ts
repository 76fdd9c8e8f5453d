/**
 * A study's numbers over seeds: the per-seed SQL (a metric per round, or one measure per run:
 * a round's value, the best round, the area under the curve), and from its rows the mean of each
 * arm with its bootstrap interval and the paired difference of two arms with its verdict.
 */
import { Errors } from "@odpo/core"
import { inList, type SelectedRun } from "./Selection.ts"
import * as Statistics from "./Statistics.ts"

/** The held-out columns of `evals` (and `run_compare`) a study can be measured on. */
export const columns = ["gold_reward", "reward", "win_rate", "kl", "entropy", "length", "eos_rate"] as const

/** A column of `evals`, or a key of its `metrics` JSON (`eval/p_best`, the order task's π(a)). */
export type Metric = string

/** The SQL of a metric over `evals e`; a name neither a column nor a metrics key (word characters and /) is an error. */
export const metricSql = (metric: Metric): string | Errors.InvalidInput =>
  (columns as ReadonlyArray<string>).includes(metric)
    ? `e.${metric}::DOUBLE`
    : /^(eval|objective)\/\w+$/.test(metric)
    ? `(e.metrics->>'$."${metric}"')::DOUBLE`
    : new Errors.InvalidInput({ message: `--metric "${metric}": not a held-out metric; take a column (${columns.join(", ")}) or a key of evals.metrics such as eval/p_best` })

/**
 * What one run contributes: the metric at a round (`round:N`), at its last round (`last`), its
 * highest value over rounds 0 … N (`best`, `best:N`, π₀ included; optionally only the rounds with
 * KL ≤ maxKl: the best point within a KL budget, the frontier's measure), the
 * trapezoidal area under its curve over rounds 0 … N (`auc`, `auc:N`; units: metric × rounds), or
 * its change from round M to round N (`change:M:N`, the value at N minus the value at M).
 */
export type Measure =
  | { readonly kind: "round"; readonly round: number }
  | { readonly kind: "last" }
  | { readonly kind: "best"; readonly upTo?: number; readonly maxKl?: number }
  | { readonly kind: "auc"; readonly upTo?: number }
  | { readonly kind: "change"; readonly from: number; readonly to: number }

/** `round:8`, `last`, `best`, `best:10`, `auc`, `auc:10` (and a KL cap for best) → a Measure; anything else names the flag and the forms. */
export const parseMeasure = (text: string, maxKl?: number): Measure | Errors.InvalidInput => {
  const change = /^change:(\d+):(\d+)$/.exec(text.trim())
  if (change !== null && maxKl === undefined) return { kind: "change", from: Number(change[1]), to: Number(change[2]) }
  const m = /^(round|last|best|auc)(?::(\d+))?$/.exec(text.trim())
  const bad = (why: string) =>
    new Errors.InvalidInput({ message: `--measure "${text}": ${why}; write round:N (the metric at round N), last, best or best:N (the highest over rounds 0…N), auc or auc:N (area over rounds 0…N), change:M:N (round N minus round M)` })
  if (m === null) return bad("not a measure")
  const n = m[2] === undefined ? undefined : Number(m[2])
  if (maxKl !== undefined && m[1] !== "best") return bad("--max-kl applies to best only")
  switch (m[1]) {
    case "round":
      return n === undefined ? bad("round needs its number") : { kind: "round", round: n }
    case "last":
      return n === undefined ? { kind: "last" } : bad("last takes no round")
    case "best":
      return { kind: "best", ...(n === undefined ? {} : { upTo: n }), ...(maxKl === undefined ? {} : { maxKl }) }
    default:
      return { kind: "auc", ...(n === undefined ? {} : { upTo: n }) }
  }
}

export const describeMeasure = (metric: Metric, m: Measure): string => {
  switch (m.kind) {
    case "round":
      return `${metric} at round ${m.round}`
    case "last":
      return `${metric} at each run's last round`
    case "best":
      return `best ${metric} over rounds 0…${m.upTo ?? "last"}${m.maxKl === undefined ? "" : ` with KL ≤ ${m.maxKl}`}`
    case "auc":
      return `area under ${metric} over rounds 0…${m.upTo ?? "last"} (trapezoid, ${metric} × rounds)`
    case "change":
      return `${metric} at round ${m.to} minus at round ${m.from}`
  }
}

/** Per-seed curve: one row per arm × seed × round (held-out evaluation), the metric as `value`. */
export const curveSql = (runs: ReadonlyArray<SelectedRun>, metric: Metric, upTo?: number) => {
  const value = metricSql(metric)
  if (typeof value !== "string") throw value // a defect: callers check the metric with metricSql first
  return `SELECT a.task, a.arm, a.seed, e.round, ${value} AS value, e.kl::DOUBLE AS kl
FROM evals e JOIN run_arms a USING (run_id)
WHERE e.split = 'heldout' AND e.run_id IN ${inList(runs)} AND ${value} IS NOT NULL${upTo === undefined ? "" : ` AND e.round <= ${upTo}`}
ORDER BY a.arm, a.seed, e.round`
}

/** Per-seed measure: one row per arm × seed, the measure as `value` and the round it was read at (`at_round`; the last round for auc). */
export const measureSql = (runs: ReadonlyArray<SelectedRun>, metric: Metric, m: Measure) => {
  const curve = `WITH curve AS (\n${curveSql(runs, metric, m.kind === "best" || m.kind === "auc" ? m.upTo : undefined)}\n)`
  switch (m.kind) {
    case "round":
      return `${curve}\nSELECT arm, seed, value, round AS at_round FROM curve WHERE round = ${m.round} ORDER BY arm, seed`
    case "last":
      return `${curve}\nSELECT arm, seed, arg_max(value, round) AS value, max(round) AS at_round FROM curve GROUP BY arm, seed ORDER BY arm, seed`
    case "best":
      return `${curve}\nSELECT arm, seed, max(value) AS value, arg_max(round, value) AS at_round FROM curve
${m.maxKl === undefined ? "" : `WHERE kl <= ${m.maxKl} `}GROUP BY arm, seed ORDER BY arm, seed`
    case "change":
      return `${curve}\nSELECT arm, seed, max(value) FILTER (WHERE round = ${m.to}) - max(value) FILTER (WHERE round = ${m.from}) AS value, ${m.to} AS at_round
FROM curve GROUP BY arm, seed HAVING count(*) FILTER (WHERE round IN (${m.from}, ${m.to})) = 2 ORDER BY arm, seed`
    case "auc":
      return `${curve}, steps AS (
  SELECT arm, seed, round, value, lag(value) OVER w AS before, lag(round) OVER w AS round_before
  FROM curve WINDOW w AS (PARTITION BY arm, seed ORDER BY round)
)
SELECT arm, seed, sum((value + before) / 2 * (round - round_before)) AS value, max(round) AS at_round
FROM steps WHERE before IS NOT NULL GROUP BY arm, seed ORDER BY arm, seed`
  }
}

export interface SeedValue {
  readonly arm: string
  readonly seed: number
  readonly value: number
  /** The curve's round (per-round rows), or the round the measure was read at. */
  readonly round: number
}

const num = (x: unknown) => (typeof x === "bigint" ? Number(x) : Number(x))

/** Query rows (column → value) of curveSql or measureSql → SeedValues. */
export const seedValues = (rows: ReadonlyArray<Record<string, unknown>>): Array<SeedValue> =>
  rows.map((r) => ({ arm: String(r.arm), seed: num(r.seed), value: num(r.value), round: num(r.round ?? r.at_round) }))

export interface ArmInterval extends Statistics.Interval {
  readonly arm: string
  readonly seeds: ReadonlyArray<number>
}

/** Mean and bootstrap interval of each arm (arms in first-seen order), from one value per seed. */
export const perArm = (values: ReadonlyArray<SeedValue>, o: Statistics.BootstrapOptions = Statistics.defaultBootstrap): Array<ArmInterval> =>
  [...new Set(values.map((v) => v.arm))].map((arm) => {
    const own = values.filter((v) => v.arm === arm)
    return { arm, seeds: own.map((v) => v.seed), ...Statistics.bootstrapInterval(own.map((v) => v.value), o) }
  })

/** Mean and interval per arm × round, from the per-seed curve. */
export const perRound = (curve: ReadonlyArray<SeedValue>, o: Statistics.BootstrapOptions = Statistics.defaultBootstrap): Array<ArmInterval & { readonly round: number }> => {
  return [...new Set(curve.map((v) => v.arm))].flatMap((arm) =>
    [...new Set(curve.filter((v) => v.arm === arm).map((v) => v.round))].sort((a, b) => a - b).map((round) => {
      const own = curve.filter((v) => v.arm === arm && v.round === round)
      return { arm, round, seeds: own.map((v) => v.seed), ...Statistics.bootstrapInterval(own.map((v) => v.value), o) }
    })
  )
}

/**
 * A claimed comparison: arm `a` minus arm `b` is `direction` than 0 (`equal`: a tie). `b` = "0"
 * compares the arm's own measure with 0 (a change over rounds, say).
 */
export interface Claim {
  readonly a: string
  readonly b: string
  readonly direction: Statistics.Direction
}

/** The constant an arm's measure is compared with when the claim's second side is "0". */
export const zero = "0"

const operators: Record<string, Statistics.Direction> = { ">": "greater", "<": "less", "=": "equal" }

/**
 * `A>B`, `A<B` or `A=B` (A − B claimed above 0, below 0, or a tie), or `A>0` (the arm's own
 * measure above 0); an arm may be named in full or without the study's prefix. Unknown arms name
 * the arms there are.
 */
export const parseClaim = (text: string, prefix: string, arms: ReadonlyArray<string>): Claim | Errors.InvalidInput => {
  const m = /^([^<>=]+)([<>=])([^<>=]+)$/.exec(text.replace(/\s+/g, ""))
  if (m === null) return new Errors.InvalidInput({ message: `--pair "${text}": write ARM>ARM (claimed: the first above the second), ARM<ARM, ARM=ARM (a tie) or ARM>0` })
  const resolve = (name: string) => (name === zero || arms.includes(name) ? name : arms.includes(prefix + name) ? prefix + name : undefined)
  const a = resolve(m[1]!)
  const b = resolve(m[3]!)
  if (a === undefined || b === undefined || a === zero) {
    return new Errors.InvalidInput({ message: `--pair "${text}": no arm "${a === undefined ? m[1] : m[3]}" in study ${prefix}; its arms: ${arms.join(", ")}` })
  }
  return { a, b, direction: operators[m[2]!]! }
}

export interface PairResult extends Statistics.Paired {
  readonly claim: Claim
  readonly verdict: Statistics.Verdict
}

/** The paired difference of a claim over its arms' matched seeds, and the verdict by the rule. */
export const comparePair = (values: ReadonlyArray<SeedValue>, claim: Claim, o: Statistics.BootstrapOptions = Statistics.defaultBootstrap): PairResult => {
  const bySeed = (arm: string) => new Map(values.filter((v) => v.arm === arm).map((v) => [v.seed, v.value]))
  const a = bySeed(claim.a)
  const result = Statistics.paired(a, claim.b === zero ? new Map([...a.keys()].map((s) => [s, 0])) : bySeed(claim.b), o)
  return { ...result, claim, verdict: result.n === 0 ? "not detected" : Statistics.verdict(result, claim.direction) }
}

/** How a claim reads: `A > B`. */
export const claimText = (c: Claim) => `${c.a} ${c.direction === "greater" ? ">" : c.direction === "less" ? "<" : "="} ${c.b}`
