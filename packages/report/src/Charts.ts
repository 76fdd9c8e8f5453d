/** The report's charts: each a title, a sentence on how to read it, the SQL over the store's views that feeds it, and its spec. */
import { inList, type SelectedRun } from "./Selection.ts"
import { band, frontier, type Row, type Spec, type SpecContext, stackedBars } from "./Specs.ts"

export interface Chart {
  readonly id: string
  readonly title: string
  /** What the chart shows and what to look for. */
  readonly about: string
  /** What is missing when an arm (or every arm) has no rows: said in place of empty axes. */
  readonly empty: string
  readonly sql: (runs: ReadonlyArray<SelectedRun>) => string
  readonly spec: (rows: ReadonlyArray<Row>, ctx: SpecContext) => Spec
}

/**
 * Per-run rows (task, arm, run_id, x, one column per series) → one row per task × arm × x ×
 * series with the mean over the arm's seeds and the seeds' values (`seed_values`, from which
 * Specs.band draws the bootstrap interval). A series a run lacks (no gold reward, no pairs at
 * round 0) is absent rather than zero; a round missing between two it has (a correlation that is
 * NULL where lengths did not vary) is kept as a NULL mean, so that its line breaks there instead
 * of running straight across.
 */
export const acrossSeeds = (perRun: string, series: ReadonlyArray<string>, x: "round" | "global_step" = "round") => `WITH per_run AS (${perRun}
),
agg AS (
  SELECT task, arm, ${x}, metric, avg(value) AS mean,
    CASE WHEN count(value) > 0 THEN list(value ORDER BY run_id) FILTER (WHERE value IS NOT NULL) END AS seed_values, count(value) AS seeds
  FROM per_run UNPIVOT INCLUDE NULLS (value FOR metric IN (${series.map((s) => `"${s}"`).join(", ")}))
  GROUP BY task, arm, ${x}, metric
),
spans AS (
  SELECT *, min(${x}) FILTER (WHERE mean IS NOT NULL) OVER w AS first_x, max(${x}) FILTER (WHERE mean IS NOT NULL) OVER w AS last_x
  FROM agg WINDOW w AS (PARTITION BY task, arm, metric)
)
SELECT task, arm, ${x}, metric, mean, seed_values, seeds FROM spans
WHERE mean IS NOT NULL OR (${x} > first_x AND ${x} < last_x)
ORDER BY task, arm, metric, ${x}`

const pairSeries = ["kept", "ties", "duplicates", "below margin"] as const
const lengthSeries = ["train samples", "held-out samples", "chosen", "rejected"] as const
const trainSeries = ["loss", "margin", "accuracy", "grad norm"] as const

export const charts: ReadonlyArray<Chart> = [
  {
    id: "reward",
    title: "Held-out reward per round",
    about: "Gold reward (the task's true objective) and proxy reward (what the policy was trained on) of the policy's held-out samples after each round; " +
      "the line is the mean over an arm's seeds, the band its bootstrap 95 % interval (10 000 resamples of the seeds; none with one seed). Round 0 is π₀. A gold curve that peaks and falls while the proxy keeps rising is over-optimisation.",
    empty: "no held-out evaluation recorded (not even π₀'s round 0)",
    sql: (runs) =>
      acrossSeeds(`
  SELECT a.task, a.arm, c.run_id, c.round,
    c.gold_reward::DOUBLE AS "gold reward", c.reward::DOUBLE AS "proxy reward"
  FROM run_compare c JOIN run_arms a USING (run_id)
  WHERE c.run_id IN ${inList(runs)}`, ["gold reward", "proxy reward"]),
    // Own y scales: a learned proxy (a reward model's logit) need not live on the gold reward's scale.
    spec: (rows, ctx) => band(rows, ctx, { x: "round", xTitle: "round", yTitle: "reward", colorBy: "arm", panelsBy: "metric", independentY: true })
  },
  {
    id: "frontier",
    title: "Reward vs KL: the frontier",
    about: "Held-out gold reward against the sequence KL from the reference policy, one point per round (mean over seeds), joined in round order; " +
      "the last round is labelled. Up and to the left is better: more reward for less drift from π_ref.",
    empty: "no held-out evaluation with both a KL and a gold reward",
    sql: (runs) => `SELECT a.task, a.arm, a.beta, k.round, avg(k.kl) AS kl, avg(k.gold_reward) AS gold, count(*) AS seeds
FROM reward_vs_kl k JOIN run_arms a USING (run_id)
WHERE k.run_id IN ${inList(runs)} AND k.kl IS NOT NULL AND k.gold_reward IS NOT NULL
GROUP BY ALL
ORDER BY a.task, a.arm, a.beta, k.round`,
    spec: (rows, ctx) => {
      const last = new Map<string, number>()
      for (const r of rows) last.set(`${r.arm}|${r.beta}`, Math.max(last.get(`${r.arm}|${r.beta}`) ?? -1, Number(r.round)))
      return frontier(rows.map((r) => ({ ...r, label: last.get(`${r.arm}|${r.beta}`) === Number(r.round) ? `r${r.round}` : "" })), ctx)
    }
  },
  {
    id: "length",
    title: "Length drift",
    about: "Mean completion length (tokens) per round: the round's training samples, the held-out samples, and the chosen and rejected sides of the pairs trained on. " +
      "Chosen persistently longer than rejected, with lengths climbing, is the signature of length exploitation.",
    empty: "no rollouts recorded",
    sql: (runs) =>
      acrossSeeds(`
  SELECT a.task, a.arm, l.run_id, l.round,
    l.train_length::DOUBLE AS "train samples", l.eval_length::DOUBLE AS "held-out samples",
    l.chosen_length::DOUBLE AS "chosen", l.rejected_length::DOUBLE AS "rejected"
  FROM length_drift l JOIN run_arms a USING (run_id)
  WHERE l.run_id IN ${inList(runs)}`, lengthSeries),
    spec: (rows, ctx) =>
      band(rows, ctx, { x: "round", xTitle: "round", yTitle: "tokens", colorBy: "metric", panelsBy: "arm", metrics: lengthSeries, colors: ["#4c78a8", "#9ecae9", "#54a24b", "#e45756"] })
  },
  {
    id: "pairs",
    title: "Pair filters per round",
    about: "What became of each round's candidate pairs (mean over seeds): kept and trained on, or dropped as ties (equal reward), duplicates (identical samples) or below the margin. " +
      "Ties and duplicates crowding out kept pairs means the policy's K samples are collapsing onto one answer.",
    empty: "no round has reached pairing (round 0 only makes and evaluates π₀)",
    sql: (runs) =>
      acrossSeeds(`
  SELECT a.task, a.arm, s.run_id, s.round,
    s.pairs::DOUBLE AS "kept", s.dropped_ties::DOUBLE AS "ties",
    s.dropped_duplicates::DOUBLE AS "duplicates", s.dropped_margin::DOUBLE AS "below margin"
  FROM round_summary s JOIN run_arms a USING (run_id)
  WHERE s.run_id IN ${inList(runs)} AND s.round >= 1 AND s.stage IN ('pairs', 'train', 'eval')`, pairSeries),
    spec: (rows, ctx) =>
      stackedBars(rows.map((r) => ({ ...r, order: pairSeries.indexOf(r.metric as (typeof pairSeries)[number]) })), ctx, pairSeries, ["#54a24b", "#f58518", "#bab0ac", "#b279a2"], "pairs (mean over seeds)")
  },
  {
    id: "distinct",
    title: "Distinct samples per prompt",
    about: "How many different completions a prompt's K training samples hold, averaged over the round's prompts (K means all differ; 1 means the policy answers every prompt the same way). Falling toward 1 is collapse.",
    empty: "no round has sampled training rollouts (round 0 only makes and evaluates π₀)",
    sql: (runs) =>
      acrossSeeds(`
  SELECT a.task, a.arm, s.run_id, s.round, s.distinct_per_prompt::DOUBLE AS "distinct per prompt"
  FROM round_summary s JOIN run_arms a USING (run_id)
  WHERE s.run_id IN ${inList(runs)} AND s.round >= 1`, ["distinct per prompt"]),
    spec: (rows, ctx) => band(rows, ctx, { x: "round", xTitle: "round", yTitle: "distinct completions per prompt", colorBy: "arm" })
  },
  {
    id: "training",
    title: "Training per optimizer step",
    about: "DPO's training signal at every optimizer step, steps numbered on across rounds: loss, reward margin (β·(Δ log-ratio chosen − rejected)), " +
      "accuracy (share of pairs with a positive margin) and gradient norm. A loss that keeps falling while held-out gold falls is fitting stale pairs.",
    empty: "no training steps recorded (round 0 only makes π₀; a round whose pairs were all dropped trains nothing)",
    sql: (runs) =>
      acrossSeeds(`
  SELECT a.task, a.arm, t.run_id, t.global_step,
    t.loss AS "loss", t.rewards_margins AS "margin", t.rewards_accuracies AS "accuracy", t.grad_norm AS "grad norm"
  FROM train_curve t JOIN run_arms a USING (run_id)
  WHERE t.run_id IN ${inList(runs)}`, trainSeries, "global_step"),
    spec: (rows, ctx) => band(rows, ctx, { x: "global_step", xTitle: "optimizer step", yTitle: "value", colorBy: "arm", panelsBy: "metric", independentY: true, metrics: trainSeries })
  },
  {
    id: "gap",
    title: "Proxy minus gold reward per round",
    about: "Held-out proxy reward minus gold reward. Zero throughout when the policy trains on the gold reward itself; a gap that widens round after round is over-optimisation of the proxy (Gao et al. 2022).",
    empty: "no held-out evaluation with a gold reward",
    sql: (runs) =>
      acrossSeeds(`
  SELECT a.task, a.arm, c.run_id, c.round, (c.reward - c.gold_reward)::DOUBLE AS "proxy − gold"
  FROM run_compare c JOIN run_arms a USING (run_id)
  WHERE c.run_id IN ${inList(runs)}`, ["proxy − gold"]),
    spec: (rows, ctx) => band(rows, ctx, { x: "round", xTitle: "round", yTitle: "proxy − gold reward", colorBy: "arm" })
  },
  {
    id: "diagnostics",
    title: "Diagnostics: ties and length–reward correlation",
    about: "The two measured diagnostics per round (view `diagnostics`): the share of candidate pairs dropped as ties or duplicates, and the correlation of length and reward over the round's training samples. " +
      "Above the dashed line (0.5) `odpo run` prints a collapse or length-exploitation warning; the table below lists every warning raised.",
    empty: "no round has reached pairing, or lengths never varied (a correlation needs varying lengths)",
    sql: (runs) =>
      acrossSeeds(`
  SELECT a.task, a.arm, d.run_id, d.round,
    d.tie_fraction::DOUBLE AS "ties / candidates", d.length_reward_corr::DOUBLE AS "length–reward correlation"
  FROM diagnostics d JOIN run_arms a USING (run_id)
  WHERE d.run_id IN ${inList(runs)} AND d.round >= 1`, ["ties / candidates", "length–reward correlation"]),
    spec: (rows, ctx) => band(rows, ctx, { x: "round", xTitle: "round", yTitle: "value", colorBy: "arm", panelsBy: "metric", threshold: 0.5 })
  }
]
