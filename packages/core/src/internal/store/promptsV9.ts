/**
 * Migration 9: the user's own prompts (task "prompts", tasks/Prompts.ts). prompt_data keeps each
 * prompt's row of its file — the prompt as written (text or chat) and every other column — beside
 * the prompts table (whose token ids it explains); prompt_files records which files a run read,
 * their SHA-256 and what the context limit did to their prompts. (Frozen: change it in a new migration.)
 */
export const promptsV9 = `
CREATE TABLE prompt_data (
  prompt_id      VARCHAR PRIMARY KEY,
  ord            INTEGER NOT NULL,
  source         VARCHAR NOT NULL,
  row_index      BIGINT NOT NULL,
  prompt         JSON NOT NULL,
  columns        JSON NOT NULL,
  prompt_tokens  INTEGER NOT NULL,
  truncated      BOOLEAN NOT NULL
);

CREATE TABLE prompt_files (
  run_id      VARCHAR NOT NULL,
  split       VARCHAR NOT NULL,
  path        VARCHAR NOT NULL,
  sha256      VARCHAR NOT NULL,
  prompt_key  VARCHAR NOT NULL,
  rows        BIGINT NOT NULL,
  kept        BIGINT NOT NULL,
  truncated   BIGINT NOT NULL,
  dropped     BIGINT NOT NULL,
  PRIMARY KEY (run_id, split)
);
`

export const promptKeys = {
  prompt_data: ["prompt_id"],
  prompt_files: ["run_id", "split"]
} as const
