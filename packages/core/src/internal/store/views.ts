/** Migration 2 of the run store: the views researchers query (round_summary, run_compare, reward_vs_kl, length_drift). */

/**
 * Every view is built on `rounds` (one row per run × round that has started) or on the held-out
 * evals, and joins per-round aggregates computed separately so that no join fans rows out.
 * "reward" of train rollouts averages every score row of the round: a run normally records one
 * reward source; with several, query `scores` by `source`.
 */
export const viewsV2 = `
CREATE OR REPLACE VIEW round_summary AS
WITH train AS (
  SELECT run_id, round, count(*) AS train_rollouts
  FROM rollouts WHERE purpose = 'train' GROUP BY ALL
),
distinct_per_prompt AS (
  -- How many different completions a prompt's K samples hold: 1 means the policy collapsed there.
  SELECT run_id, round, avg(n_distinct) AS distinct_per_prompt FROM (
    SELECT run_id, round, prompt_id, count(DISTINCT token_ids) AS n_distinct
    FROM rollouts WHERE purpose = 'train' GROUP BY ALL
  ) GROUP BY ALL
),
train_scores AS (
  SELECT r.run_id, r.round, avg(s.reward) AS train_reward, avg(s.gold_reward) AS train_gold_reward
  FROM rollouts r JOIN scores s USING (rollout_id) WHERE r.purpose = 'train' GROUP BY ALL
),
pair_counts AS (
  SELECT run_id, round, count(*) AS pairs FROM pairs GROUP BY ALL
),
filters AS (
  SELECT run_id, round,
    sum("count") FILTER (WHERE "filter" = 'ties') AS dropped_ties,
    sum("count") FILTER (WHERE "filter" = 'duplicates') AS dropped_duplicates,
    sum("count") FILTER (WHERE "filter" = 'margin') AS dropped_margin
  FROM pair_filters GROUP BY ALL
),
steps AS (
  SELECT run_id, round, count(*) AS train_steps, avg(loss) AS train_loss,
    arg_max(rewards_accuracies, step) AS last_accuracy
  FROM train_steps GROUP BY ALL
),
heldout AS (
  SELECT run_id, round, reward AS eval_reward, gold_reward AS eval_gold_reward, win_rate, kl, entropy,
    length AS eval_length, eos_rate
  FROM evals WHERE split = 'heldout'
)
SELECT rd.run_id, rd.round, rd.stage,
  coalesce(train.train_rollouts, 0) AS train_rollouts,
  distinct_per_prompt.distinct_per_prompt,
  train_scores.train_reward, train_scores.train_gold_reward,
  coalesce(pair_counts.pairs, 0) AS pairs,
  coalesce(filters.dropped_ties, 0) AS dropped_ties,
  coalesce(filters.dropped_duplicates, 0) AS dropped_duplicates,
  coalesce(filters.dropped_margin, 0) AS dropped_margin,
  coalesce(steps.train_steps, 0) AS train_steps, steps.train_loss, steps.last_accuracy,
  heldout.eval_reward, heldout.eval_gold_reward, heldout.win_rate, heldout.kl, heldout.entropy,
  heldout.eval_length, heldout.eos_rate
FROM rounds rd
LEFT JOIN train USING (run_id, round)
LEFT JOIN distinct_per_prompt USING (run_id, round)
LEFT JOIN train_scores USING (run_id, round)
LEFT JOIN pair_counts USING (run_id, round)
LEFT JOIN filters USING (run_id, round)
LEFT JOIN steps USING (run_id, round)
LEFT JOIN heldout USING (run_id, round)
ORDER BY rd.run_id, rd.round;

CREATE OR REPLACE VIEW run_compare AS
SELECT r.name, r.run_id, r.experiment, r.pair_source, r.loss, r.beta, r.seed, e.round,
  e.reward, e.gold_reward, e.win_rate, e.kl, e.entropy, e.length, e.eos_rate
FROM runs r JOIN evals e USING (run_id)
WHERE e.split = 'heldout'
ORDER BY r.name, r.run_id, e.round;

-- The DPO paper's frontier plot: held-out reward against sequence KL from the reference, per round.
CREATE OR REPLACE VIEW reward_vs_kl AS
SELECT r.run_id, r.name, r.loss, r.beta, e.round, e.kl, e.reward, e.gold_reward
FROM runs r JOIN evals e USING (run_id)
WHERE e.split = 'heldout'
ORDER BY r.run_id, e.round;

-- Length exploitation (Park et al. 2024): completion lengths per round, and of the pairs trained on.
CREATE OR REPLACE VIEW length_drift AS
WITH lengths AS (
  SELECT run_id, round,
    avg(length) FILTER (WHERE purpose = 'train') AS train_length,
    avg(length) FILTER (WHERE purpose = 'eval') AS eval_length
  FROM rollouts GROUP BY ALL
),
pair_lengths AS (
  SELECT p.run_id, p.round, avg(c.length) AS chosen_length, avg(j.length) AS rejected_length
  FROM pairs p
  JOIN rollouts c ON c.rollout_id = p.chosen_id
  JOIN rollouts j ON j.rollout_id = p.rejected_id
  GROUP BY ALL
)
SELECT rd.run_id, r.name, rd.round, lengths.train_length, lengths.eval_length,
  pair_lengths.chosen_length, pair_lengths.rejected_length
FROM rounds rd
JOIN runs r USING (run_id)
LEFT JOIN lengths USING (run_id, round)
LEFT JOIN pair_lengths USING (run_id, round)
ORDER BY rd.run_id, rd.round;
`

/**
 * Migration 7: where a round's time goes, one row per run × round from stage_times — wall seconds
 * per stage (pairs: pairing + reference log-probs; advantages: an RL round's counterpart) and the
 * round's wall and CPU total, with the backend that ran it. \`odpo compare\` prints the total.
 */
export const roundCostsV7 = `
CREATE OR REPLACE VIEW round_costs AS
SELECT run_id, round, any_value(backend) AS backend,
  sum(wall_s) FILTER (WHERE stage = 'started') AS start_s,
  sum(wall_s) FILTER (WHERE stage = 'rollouts') AS sample_s,
  sum(wall_s) FILTER (WHERE stage = 'scores') AS score_s,
  sum(wall_s) FILTER (WHERE stage IN ('pairs', 'advantages')) AS pairs_s,
  sum(wall_s) FILTER (WHERE stage = 'train') AS train_s,
  sum(wall_s) FILTER (WHERE stage = 'eval') AS eval_s,
  sum(wall_s) AS wall_s,
  sum(cpu_s) AS cpu_s
FROM stage_times
GROUP BY run_id, round
ORDER BY run_id, round;
`
