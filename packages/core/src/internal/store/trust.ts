/**
 * Migration 8, in three parts. (1) A runs folder that moves. Checkpoint paths (checkpoints.path, the run's
 * checkpointRoot in runs.config) are stored relative to the database's folder when they lie under
 * it (StorePaths.ts); this rewrites the absolute paths an older odpo wrote there, so that the folder
 * can be moved or copied from now on. Paths elsewhere stay absolute. (2) "Did the round learn its
 * own pairs?": pair_logps holds log π_r of each pair's sides under the round's trained policy, and
 * pair_rewards the DPO implicit rewards β·(log π_r − log π_ref). (3) "The newest run of this name":
 * latest_runs (one row per name) and latest_run(name) (its run id), the newest finished run of the
 * name, else its newest — as compare and report take a name.
 */
import { sep } from "node:path"

/** A SQL string literal. */
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`

export const trustV8 = (dir: string): string => {
  const prefix = literal(dir.endsWith(sep) ? dir : `${dir}${sep}`)
  const here = literal(dir)
  return `
CREATE TABLE pair_logps (
  pair_id        VARCHAR PRIMARY KEY,
  run_id         VARCHAR NOT NULL,
  round          INTEGER NOT NULL,
  policy_ckpt    VARCHAR NOT NULL,
  chosen_logp    DOUBLE NOT NULL,
  rejected_logp  DOUBLE NOT NULL
);

-- The DPO implicit reward of each side under the trained policy π_r: β·(log π_r − log π_ref).
-- learned: π_r ranks the pair as it was labelled (its implicit margin is positive).
CREATE OR REPLACE VIEW pair_rewards AS
SELECT p.run_id, r.name, p.round, p.pair_id, p.prompt_id, p.margin AS reward_margin, p.flipped, r.beta, l.policy_ckpt,
  r.beta * (l.chosen_logp - p.ref_chosen_logp) AS chosen_reward,
  r.beta * (l.rejected_logp - p.ref_rejected_logp) AS rejected_reward,
  r.beta * ((l.chosen_logp - p.ref_chosen_logp) - (l.rejected_logp - p.ref_rejected_logp)) AS implicit_margin,
  (l.chosen_logp - p.ref_chosen_logp) > (l.rejected_logp - p.ref_rejected_logp) AS learned
FROM pairs p JOIN pair_logps l USING (pair_id) JOIN runs r ON r.run_id = p.run_id
ORDER BY p.run_id, p.round, p.pair_id;

CREATE OR REPLACE VIEW latest_runs AS
SELECT * EXCLUDE (pick) FROM (
  SELECT *, row_number() OVER (PARTITION BY name ORDER BY status = 'finished' DESC, created_at DESC, run_id DESC) AS pick FROM runs
) WHERE pick = 1
ORDER BY name;

CREATE OR REPLACE MACRO latest_run(run_name) AS (SELECT run_id FROM latest_runs WHERE name = run_name);

UPDATE checkpoints SET path = substr(path, length(${prefix}) + 1) WHERE starts_with(path, ${prefix});
UPDATE runs SET config = json_merge_patch(config, json_object('checkpointRoot',
    CASE WHEN config->>'checkpointRoot' = ${here} THEN '.' ELSE substr(config->>'checkpointRoot', length(${prefix}) + 1) END))
  WHERE config->>'checkpointRoot' = ${here} OR starts_with(config->>'checkpointRoot', ${prefix});
`
}
