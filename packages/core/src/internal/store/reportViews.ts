/** Migration "report views" of the run store: the views `odpo report` draws and `odpo run` warns from (run_arms, diagnostics, train_curve, eval_extremes). */

/**
 * - `run_arms`: a run's arm is its name less the `-s<seed>` suffix that scripts/seeds.sh adds, so
 *   the seeds of one config group together; its task is read from the stored config.
 * - `diagnostics`: one row per run × round with three warnings (Diagnostics.ts prints them):
 *   collapse — at least half of the candidate pairs dropped as ties (a duplicate pair, two
 *   identical samples, is a tie whose texts also match, so it counts too); over-optimisation —
 *   held-out proxy reward up while gold reward down, this round and the one before; length
 *   exploitation — correlation of length and reward over the round's train samples above 0.5.
 *   DuckDB orders NaN above every number, so a correlation of constant lengths (NaN) is made NULL.
 * - `train_curve`: train_steps with a step index that runs on across rounds (steps restart at 0
 *   each round).
 * - `eval_extremes`: per run × round × held-out prompt, the best and worst of the policy's eval
 *   samples by reward, with both rewards.
 */
export const reportViews = `
CREATE OR REPLACE VIEW run_arms AS
SELECT run_id, name, regexp_replace(name, '-s' || seed || '$', '') AS arm, seed,
  coalesce(json_extract_string(config, '$.task.name'), 'unknown') AS task,
  pair_source, loss, beta, status, created_at
FROM runs;

CREATE OR REPLACE VIEW diagnostics AS
WITH filters AS (
  SELECT run_id, round,
    coalesce(sum("count") FILTER (WHERE "filter" = 'candidates'), 0) AS candidates,
    coalesce(sum("count") FILTER (WHERE "filter" = 'ties'), 0) AS ties,
    coalesce(sum("count") FILTER (WHERE "filter" = 'duplicates'), 0) AS duplicates
  FROM pair_filters GROUP BY ALL
),
changes AS (
  SELECT run_id, round, reward, gold_reward,
    reward - lag(reward) OVER w AS reward_change,
    gold_reward - lag(gold_reward) OVER w AS gold_change
  FROM evals WHERE split = 'heldout'
  WINDOW w AS (PARTITION BY run_id ORDER BY round)
),
diverging AS (
  SELECT *, coalesce(reward_change > 0 AND gold_change < 0, false) AS diverged FROM changes
),
streaks AS (
  SELECT *, coalesce(lag(diverged) OVER (PARTITION BY run_id ORDER BY round), false) AS diverged_before FROM diverging
),
length_corr AS (
  SELECT r.run_id, r.round, corr(r.length, s.reward) AS c
  FROM rollouts r JOIN scores s USING (rollout_id) WHERE r.purpose = 'train' GROUP BY ALL
)
SELECT rd.run_id, r.name, rd.round,
  filters.candidates, filters.ties, filters.duplicates,
  CASE WHEN filters.candidates > 0 THEN (filters.ties + filters.duplicates) / filters.candidates END AS tie_fraction,
  streaks.reward, streaks.gold_reward, streaks.reward_change, streaks.gold_change,
  CASE WHEN isnan(length_corr.c) THEN NULL ELSE length_corr.c END AS length_reward_corr,
  coalesce(filters.candidates > 0 AND (filters.ties + filters.duplicates) >= 0.5 * filters.candidates, false) AS collapse,
  coalesce(streaks.diverged AND streaks.diverged_before, false) AS over_optimisation,
  coalesce(NOT isnan(length_corr.c) AND length_corr.c > 0.5, false) AS length_exploitation
FROM rounds rd
JOIN runs r USING (run_id)
LEFT JOIN filters USING (run_id, round)
LEFT JOIN streaks USING (run_id, round)
LEFT JOIN length_corr USING (run_id, round)
ORDER BY rd.run_id, rd.round;

CREATE OR REPLACE VIEW train_curve AS
SELECT run_id, round, step,
  row_number() OVER (PARTITION BY run_id ORDER BY round, step) - 1 AS global_step,
  loss, rewards_margins, rewards_accuracies, grad_norm, learning_rate
FROM train_steps
ORDER BY run_id, round, step;

CREATE OR REPLACE VIEW eval_extremes AS
SELECT r.run_id, r.round, r.prompt_id, p.text AS prompt,
  arg_max(r.text, s.reward) AS best, max(s.reward) AS best_reward, arg_max(s.gold_reward, s.reward) AS best_gold_reward,
  arg_min(r.text, s.reward) AS worst, min(s.reward) AS worst_reward, arg_min(s.gold_reward, s.reward) AS worst_gold_reward,
  count(*) AS samples
FROM rollouts r
JOIN scores s USING (rollout_id)
JOIN prompts p USING (prompt_id)
WHERE r.purpose = 'eval'
GROUP BY ALL
ORDER BY r.run_id, r.round, r.prompt_id;
`
