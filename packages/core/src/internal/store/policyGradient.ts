/** Migration "policy gradient" of the run store: what RL rounds (rloo, ppo_clip) train on and which samples fed which step. */

/**
 * `advantages`: one row per train rollout of a policy-gradient round, written before training;
 * every epoch of the round uses the same advantage (leaveOneOut.ts in the optimizer).
 * `step_samples`: which rollouts fed which optimizer step, one row per (step, rollout); with E
 * epochs a rollout appears in E steps. Written by policy-gradient rounds; a preference round may
 * write the rollouts of each step's pairs the same way.
 * `samples_used` joins them to the rollouts' texts, so SQL can put an advantage next to its text.
 * `policy_gradient_steps` reads the TRL-named RL metrics out of train_steps.metrics (JSON) as columns.
 */
export const policyGradientSql = `
CREATE TABLE advantages (
  rollout_id   VARCHAR PRIMARY KEY,
  run_id       VARCHAR NOT NULL,
  round        INTEGER NOT NULL,
  prompt_id    VARCHAR NOT NULL,
  -- the configured reward (scores.reward)
  reward       DOUBLE NOT NULL,
  -- Σ over the completion of log π_old − log π_ref (the sampled tokens' k1 estimate)
  kl           DOUBLE NOT NULL,
  -- reward − β·kl (TRL's objective/rlhf_reward)
  rlhf_reward  DOUBLE NOT NULL,
  -- mean of the prompt's other K − 1 rewards: rlhf_reward (klMode 'reward') or reward (klMode 'loss')
  baseline     DOUBLE NOT NULL,
  advantage    DOUBLE NOT NULL
);

CREATE TABLE step_samples (
  run_id      VARCHAR NOT NULL,
  round       INTEGER NOT NULL,
  step        INTEGER NOT NULL,
  rollout_id  VARCHAR NOT NULL,
  PRIMARY KEY (run_id, round, step, rollout_id)
);

CREATE OR REPLACE VIEW samples_used AS
SELECT u.run_id, u.round, u.step, t.epoch, u.rollout_id, r.prompt_id, r.sample_idx,
  a.reward, a.kl, a.rlhf_reward, a.baseline, a.advantage,
  r.length, r.finish_reason, p.text AS prompt, r.text AS completion
FROM step_samples u
JOIN rollouts r ON r.rollout_id = u.rollout_id
JOIN prompts p ON p.prompt_id = r.prompt_id
LEFT JOIN advantages a ON a.rollout_id = u.rollout_id
LEFT JOIN train_steps t ON t.run_id = u.run_id AND t.round = u.round AND t.step = u.step
ORDER BY u.run_id, u.round, u.step, r.prompt_id, r.sample_idx;

CREATE OR REPLACE VIEW policy_gradient_steps AS
SELECT run_id, round, step, epoch, loss,
  CAST(metrics->>'$."objective/rlhf_reward"' AS DOUBLE) AS rlhf_reward,
  CAST(metrics->>'$."objective/kl"' AS DOUBLE) AS kl,
  CAST(metrics->>'$."policy/clipfrac"' AS DOUBLE) AS clipfrac,
  CAST(metrics->>'$."policy/approxkl"' AS DOUBLE) AS approxkl,
  CAST(metrics->>'$."val/ratio"' AS DOUBLE) AS ratio,
  CAST(metrics->>'$."policy/entropy"' AS DOUBLE) AS entropy,
  grad_norm, learning_rate
FROM train_steps
WHERE metrics->>'$."val/ratio"' IS NOT NULL
ORDER BY run_id, round, step;
`

/** Primary-key columns of the tables above (write.ts merges staged rows on them). */
export const policyGradientKeys = {
  advantages: ["rollout_id"],
  step_samples: ["run_id", "round", "step", "rollout_id"]
} as const
