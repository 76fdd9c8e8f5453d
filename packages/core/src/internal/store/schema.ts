/** Migration 1 of the run store: the tables of DESIGN.md "The run store" (frozen: change them in a new migration). */
import { policyGradientKeys } from "./policyGradient.ts"
import { promptKeys } from "./promptsV9.ts"

/**
 * Column order matters: stage writes append whole rows through DuckDB's appender, so the
 * row builders in write.ts list values in exactly this order (write.ts checks the count).
 * Lists hold token-level data; JSON columns hold the full config / metric records.
 * Timestamps are TIMESTAMPTZ (read back as ISO-8601 strings in UTC).
 */
export const tablesV1 = `
CREATE TABLE runs (
  run_id        VARCHAR PRIMARY KEY,
  name          VARCHAR NOT NULL,
  experiment    VARCHAR NOT NULL,
  config        JSON,
  seed          BIGINT NOT NULL,
  pair_source   VARCHAR NOT NULL,
  loss          VARCHAR NOT NULL,
  beta          DOUBLE NOT NULL,
  status        VARCHAR NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
  created_at    TIMESTAMPTZ NOT NULL,
  code_version  VARCHAR NOT NULL
);

-- rounds.stage is the last stage of the round that was written completely.
CREATE TABLE rounds (
  run_id       VARCHAR NOT NULL,
  round        INTEGER NOT NULL,
  policy_ckpt  VARCHAR,
  ref_ckpt     VARCHAR,
  output_ckpt  VARCHAR,
  stage        VARCHAR NOT NULL,
  started_at   TIMESTAMPTZ NOT NULL,
  finished_at  TIMESTAMPTZ,
  PRIMARY KEY (run_id, round)
);

CREATE TABLE checkpoints (
  ckpt_id   VARCHAR PRIMARY KEY,
  path      VARCHAR NOT NULL,
  parent    VARCHAR,
  run_id    VARCHAR NOT NULL,
  round     INTEGER NOT NULL,
  n_params  BIGINT NOT NULL
);

-- Prompts are shared across runs: a prompt written twice is kept once.
CREATE TABLE prompts (
  prompt_id  VARCHAR PRIMARY KEY,
  task       VARCHAR NOT NULL,
  split      VARCHAR NOT NULL,
  text       VARCHAR NOT NULL,
  token_ids  INTEGER[] NOT NULL
);

-- stop is not in DESIGN.md's list: it is kept so that a rollout reads back whole (its SamplingParams).
CREATE TABLE rollouts (
  rollout_id          VARCHAR PRIMARY KEY,
  run_id              VARCHAR NOT NULL,
  round               INTEGER NOT NULL,
  purpose             VARCHAR NOT NULL CHECK (purpose IN ('train', 'eval', 'eval_ref')),
  prompt_id           VARCHAR NOT NULL,
  sample_idx          INTEGER NOT NULL,
  policy_ckpt         VARCHAR NOT NULL,
  token_ids           INTEGER[] NOT NULL,
  token_logprobs      FLOAT[] NOT NULL,
  logprob_sum         DOUBLE NOT NULL,
  length              INTEGER NOT NULL,
  finish_reason       VARCHAR NOT NULL,
  temperature         DOUBLE NOT NULL,
  top_k               INTEGER NOT NULL,
  top_p               DOUBLE NOT NULL,
  min_p               DOUBLE NOT NULL,
  repetition_penalty  DOUBLE NOT NULL,
  max_new_tokens      INTEGER NOT NULL,
  stop                VARCHAR[] NOT NULL,
  seed                BIGINT NOT NULL,
  text                VARCHAR NOT NULL
);

CREATE TABLE scores (
  rollout_id   VARCHAR NOT NULL,
  source       VARCHAR NOT NULL,
  reward       DOUBLE NOT NULL,
  gold_reward  DOUBLE,
  PRIMARY KEY (rollout_id, source)
);

CREATE TABLE pairs (
  pair_id            VARCHAR PRIMARY KEY,
  run_id             VARCHAR NOT NULL,
  round              INTEGER NOT NULL,
  prompt_id          VARCHAR NOT NULL,
  chosen_id          VARCHAR NOT NULL,
  rejected_id        VARCHAR NOT NULL,
  margin             DOUBLE NOT NULL,
  strategy           VARCHAR NOT NULL,
  ref_chosen_logp    DOUBLE,
  ref_rejected_logp  DOUBLE
);

-- filter: candidates, ties, duplicates, margin, kept …; count: rows that filter dropped (or kept).
CREATE TABLE pair_filters (
  run_id  VARCHAR NOT NULL,
  round   INTEGER NOT NULL,
  "filter"  VARCHAR NOT NULL,
  "count"   BIGINT NOT NULL,
  PRIMARY KEY (run_id, round, "filter")
);

-- One column per TRL metric name ("rewards/chosen" → rewards_chosen); metrics keeps them all.
CREATE TABLE train_steps (
  run_id              VARCHAR NOT NULL,
  round               INTEGER NOT NULL,
  step                INTEGER NOT NULL,
  epoch               DOUBLE NOT NULL,
  loss                DOUBLE,
  rewards_chosen      DOUBLE,
  rewards_rejected    DOUBLE,
  rewards_margins     DOUBLE,
  rewards_accuracies  DOUBLE,
  logps_chosen        DOUBLE,
  logps_rejected      DOUBLE,
  grad_norm           DOUBLE,
  learning_rate       DOUBLE,
  metrics             JSON NOT NULL,
  PRIMARY KEY (run_id, round, step)
);

-- "eval/reward" → reward, "objective/kl" → kl …; metrics keeps them all.
CREATE TABLE evals (
  run_id       VARCHAR NOT NULL,
  round        INTEGER NOT NULL,
  split        VARCHAR NOT NULL,
  reward       DOUBLE,
  gold_reward  DOUBLE,
  win_rate     DOUBLE,
  kl           DOUBLE,
  entropy      DOUBLE,
  length       DOUBLE,
  eos_rate     DOUBLE,
  metrics      JSON NOT NULL,
  PRIMARY KEY (run_id, round, split)
);
`

/**
 * Migration 3: which engine a run used (runs.backend, runs.device: set when the run starts or
 * resumes) and where each round's time goes (stage_times: wall and CPU seconds per stage, with
 * the backend it ran on, written in the stage's own transaction).
 */
export const enginesV3 = `
ALTER TABLE runs ADD COLUMN backend VARCHAR;
ALTER TABLE runs ADD COLUMN device VARCHAR;

CREATE TABLE stage_times (
  run_id       VARCHAR NOT NULL,
  round        INTEGER NOT NULL,
  stage        VARCHAR NOT NULL,
  backend      VARCHAR,
  wall_s       DOUBLE NOT NULL,
  cpu_s        DOUBLE NOT NULL,
  PRIMARY KEY (run_id, round, stage)
);
`

/** Primary-key columns of each table a stage writes: staging rows are checked and merged on them. */
export const primaryKeys = {
  prompts: ["prompt_id"],
  checkpoints: ["ckpt_id"],
  rollouts: ["rollout_id"],
  scores: ["rollout_id", "source"],
  pairs: ["pair_id"],
  pair_filters: ["run_id", "round", "filter"],
  train_steps: ["run_id", "round", "step"],
  evals: ["run_id", "round", "split"],
  stage_times: ["run_id", "round", "stage"],
  pair_logps: ["pair_id"],
  ...policyGradientKeys,
  ...promptKeys
} as const

export type StageTable = keyof typeof primaryKeys

/**
 * Migration 6: label noise. pairs.flipped marks a pair whose chosen and rejected the pairing
 * swapped on purpose (pairing.flipRate), so that a noisy-label study can tell noise from signal.
 * Rows written before it read false. (Appended as the last column: write.ts lists it last.)
 */
export const pairFlipsV6 = `
ALTER TABLE pairs ADD COLUMN flipped BOOLEAN DEFAULT false;
`
