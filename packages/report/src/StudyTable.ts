/** The report's "over seeds" table: each arm's held-out gold reward (last round, best round, area) with bootstrap intervals, and paired differences of arms. */
import { escapeHtml } from "./Html.ts"
import type { SelectedRun } from "./Selection.ts"
import type { Row } from "./Specs.ts"
import * as Statistics from "./Statistics.ts"
import * as Study from "./Study.ts"
import type { Table } from "./Tables.ts"

/** Pairs of arms are listed while a task has at most this many arms (15 pairs); beyond, `odpo compare --study … --pair` names the ones a claim needs. */
const maxArmsForPairs = 6

const measures = [
  { key: "last", title: "gold at last round" },
  { key: "best", title: "best gold, any round" },
  { key: "auc", title: "area under gold (× rounds)" }
] as const

/** One row per arm × seed: gold at the last round, the best of any round (π₀ included), the trapezoidal area over all rounds. */
const sql = (runs: ReadonlyArray<SelectedRun>) => `WITH curve AS (
${Study.curveSql(runs, "gold_reward")}
), steps AS (
  SELECT *, lag(value) OVER w AS before, lag(round) OVER w AS round_before
  FROM curve WINDOW w AS (PARTITION BY arm, seed ORDER BY round)
)
SELECT task, arm, seed, max(round) AS last_round, arg_max(value, round) AS "last",
  max(value) AS best,
  coalesce(sum((value + before) / 2 * (round - round_before)), 0) AS auc
FROM steps GROUP BY task, arm, seed ORDER BY task, arm, seed`

const num = (x: unknown) => (x === null || x === undefined ? NaN : Number(x))
const f3 = (x: number) => (Number.isNaN(x) ? "–" : x.toFixed(3))
const signed = (x: number) => (Number.isNaN(x) ? "–" : `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(3)}`)
const withInterval = (i: Statistics.Interval, fmt = f3) => i.n < 2 ? fmt(i.mean) : `${fmt(i.mean)} [${fmt(i.lo)}, ${fmt(i.hi)}]`

const table = (head: ReadonlyArray<string>, body: ReadonlyArray<ReadonlyArray<string>>) =>
  `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>\n<tbody>\n${
    body.map((cells) => `<tr>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("\n")
  }\n</tbody></table>`

/** Which side of 0 a paired interval lies on, without a claimed direction. */
const side = (p: Statistics.Paired) => (p.lo > 0 ? "A above B" : p.hi < 0 ? "A below B" : "not detected")

const html = (rows: ReadonlyArray<Row>): string => {
  const arms = [...new Set(rows.map((r) => String(r.arm)))]
  const values = (key: string) => rows.map((r) => ({ arm: String(r.arm), seed: num(r.seed), value: num(r[key]), round: num(r.last_round) })).filter((v) => !Number.isNaN(v.value))
  const perMeasure = measures.map((m) => new Map(Study.perArm(values(m.key)).map((a) => [a.arm, a])))
  const lastRounds = (arm: string) => [...new Set(rows.filter((r) => r.arm === arm).map((r) => num(r.last_round)))].join(", ")
  const armTable = table(
    ["arm", "seeds", "last round", ...measures.map((m) => `${m.title}: mean [95 % interval]`)],
    arms.map((arm) => [
      `<strong>${escapeHtml(arm)}</strong>`, String(rows.filter((r) => r.arm === arm).length), lastRounds(arm),
      ...perMeasure.map((m) => (m.has(arm) ? withInterval(m.get(arm)!) : "–"))
    ])
  )
  const pairRows: Array<Array<string>> = []
  const last = values("last")
  for (const task of new Set(rows.map((r) => String(r.task)))) {
    const own = arms.filter((a) => rows.some((r) => r.arm === a && r.task === task))
    if (own.length < 2 || own.length > maxArmsForPairs) continue
    for (let i = 0; i < own.length; i++) {
      for (let j = i + 1; j < own.length; j++) {
        const p = Study.comparePair(last, { a: own[i]!, b: own[j]!, direction: "greater" })
        if (p.n === 0) continue
        pairRows.push([escapeHtml(own[i]!), escapeHtml(own[j]!), String(p.n), withInterval(p, signed), p.p.toFixed(3), side(p)])
      }
    }
  }
  const pairs = pairRows.length === 0
    ? `<p class="missing">No pairs listed: a task here has one arm, or more than ${maxArmsForPairs}; \`odpo compare --study PREFIX --pair 'A>B'\` compares the arms a claim names.</p>`
    : table(["A", "B", "matched seeds", "A − B at last round: mean [95 % interval]", "p (sign-flip)", "interval"], pairRows)
  return `${armTable}\n${pairs}`
}

export const seedStatistics: Table = {
  id: "over-seeds",
  title: "Over seeds: means with bootstrap intervals, paired differences",
  about: `Each arm's held-out gold reward, one number per seed, summarised as the mean over seeds with its percentile-bootstrap 95 % interval ` +
    `(${Statistics.defaultBootstrap.resamples} resamples of the seeds, mulberry32 seed ${Statistics.defaultBootstrap.seed}); ` +
    `below, A − B at the last round over the seeds both arms have, its interval and the exact sign-flip p-value. ` +
    `With 3 seeds the interval is the range of the seeds' values and p cannot fall below 0.25: too few to detect anything but a difference of the same sign on every seed.`,
  empty: "no held-out gold reward recorded (not even π₀'s round 0)",
  sql,
  html
}
