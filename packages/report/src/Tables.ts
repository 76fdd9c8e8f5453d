/** The report's tables: the warnings of the `diagnostics` view, and the best and worst completions of a few fixed held-out prompts. */
import { escapeHtml } from "./Html.ts"
import { inList, type SelectedRun } from "./Selection.ts"
import type { Row } from "./Specs.ts"
import { seedStatistics } from "./StudyTable.ts"

export interface Table {
  readonly id: string
  readonly title: string
  readonly about: string
  /** Said in place of an empty table. */
  readonly empty: string
  readonly sql: (runs: ReadonlyArray<SelectedRun>) => string
  readonly html: (rows: ReadonlyArray<Row>) => string
}

const fixed = (x: unknown, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits))
const signed = (x: unknown) => (x === null || x === undefined ? "–" : `${Number(x) >= 0 ? "+" : "−"}${Math.abs(Number(x)).toFixed(3)}`)

const table = (head: ReadonlyArray<string>, body: ReadonlyArray<ReadonlyArray<string>>) =>
  `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>\n<tbody>\n${
    body.map((cells) => `<tr>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("\n")
  }\n</tbody></table>`

/** The warnings as `odpo run` printed them, one row per run × round with at least one. */
const warnings: Table = {
  id: "warnings",
  title: "Diagnostics: warnings raised",
  about: "Every round of every run that raised a warning (view `diagnostics`, the same flags `odpo run` prints): collapse (≥ 50 % of candidate pairs dropped as ties), " +
    "over-optimisation (held-out proxy reward up while gold reward down, 2 rounds running), length exploitation (length–reward correlation over the round's samples > 0.5).",
  empty: "No warnings: no round of these runs collapsed, over-optimised or exploited length by the diagnostics' thresholds.",
  sql: (runs) => `SELECT name, round, tie_fraction, reward_change, gold_change, length_reward_corr, collapse, over_optimisation, length_exploitation
FROM diagnostics
WHERE run_id IN ${inList(runs)} AND (collapse OR over_optimisation OR length_exploitation)
ORDER BY name, round`,
  html: (rows) =>
    table(
      ["run", "round", "warnings", "ties / candidates", "Δ proxy", "Δ gold", "length–reward corr."],
      rows.map((r) => [
        escapeHtml(String(r.name)),
        String(r.round),
        [r.collapse ? "collapse" : "", r.over_optimisation ? "over-optimisation" : "", r.length_exploitation ? "length exploitation" : ""]
          .filter((x) => x !== "").map((x) => `<strong class="flag">${x}</strong>`).join(" "),
        fixed(r.tie_fraction, 2), signed(r.reward_change), signed(r.gold_change), fixed(r.length_reward_corr, 2)
      ])
    )
}

/**
 * The first three held-out prompts of each task (every round evaluates the same ones), for the
 * lowest seed of each arm: what the policy's best and worst sample said, and what they scored.
 */
const completions: Table = {
  id: "completions",
  title: "Best and worst completions of fixed prompts",
  about: "For the first three held-out prompts of each task and the lowest seed of each arm: the best and the worst of the policy's held-out samples by proxy reward, each round, with proxy and gold reward (view `eval_extremes`).",
  empty: "no held-out samples recorded",
  sql: (runs) => {
    const lowest = runs.filter((r) => !runs.some((s) => s.arm === r.arm && s.seed < r.seed))
    return `WITH shown AS (
  SELECT task, prompt_id FROM (
    SELECT DISTINCT a.task, x.prompt_id FROM eval_extremes x JOIN run_arms a USING (run_id) WHERE x.run_id IN ${inList(lowest)}
  ) QUALIFY row_number() OVER (PARTITION BY task ORDER BY length(prompt_id), prompt_id) <= 3
)
SELECT a.arm, a.seed, x.prompt_id, x.prompt, x.round, x.best, x.best_reward, x.best_gold_reward,
  x.worst, x.worst_reward, x.worst_gold_reward, x.samples
FROM eval_extremes x JOIN run_arms a USING (run_id) JOIN shown USING (task, prompt_id)
WHERE x.run_id IN ${inList(lowest)}
ORDER BY a.arm, length(x.prompt_id), x.prompt_id, x.round`
  },
  html: (rows) => {
    const groups = new Map<string, Array<Row>>()
    for (const r of rows) {
      const key = `${r.arm} (seed ${r.seed}) · prompt ${r.prompt_id}${String(r.prompt) === "" ? "" : `: “${r.prompt}”`}`
      groups.set(key, [...(groups.get(key) ?? []), r])
    }
    return [...groups].map(([key, group], i) =>
      `<details${i === 0 ? " open" : ""}><summary>${escapeHtml(key)}</summary>\n${
        table(
          ["round", "best sample", "reward", "gold", "worst sample", "reward", "gold"],
          group.map((r) => [
            String(r.round),
            `<code>${escapeHtml(String(r.best))}</code>`, fixed(r.best_reward), fixed(r.best_gold_reward),
            `<code>${escapeHtml(String(r.worst))}</code>`, fixed(r.worst_reward), fixed(r.worst_gold_reward)
          ])
        )
      }</details>`
    ).join("\n")
  }
}

// The "over seeds" table (StudyTable.ts) first: what a study concludes, before the details.
export const tables: ReadonlyArray<Table> = [seedStatistics, warnings, completions]
