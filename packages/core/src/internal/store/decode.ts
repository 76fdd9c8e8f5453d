/** Turning DuckDB result rows into plain JS values and into the RunStore's row records. */
import type { DuckDBResultReader } from "@duckdb/node-api"
import type { FinishReason } from "../../Domain.ts"
import type { PreferencePair } from "../../Domain.ts"
import type { AdvantageRow, CheckpointRow, QueryResult, RolloutPurpose, RolloutWrite, RoundRow, RunRow, RunStatus, ScoreRow, Stage } from "../../RunStore.ts"

/**
 * A DuckDB value as plain JS: integers as numbers when they are safe integers (BIGINT / HUGEINT
 * results such as count(*) included; larger ones stay bigint), timestamps as ISO-8601 strings
 * (UTC), lists as arrays, structs as objects, BLOBs as Uint8Array.
 */
export const toPlain = (value: unknown): unknown => {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value
  }
  if (value === null || typeof value !== "object") return value
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return value.map(toPlain)
  if (ArrayBuffer.isView(value)) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = toPlain(v)
  return out
}

const parseJson = (text: unknown): unknown => {
  if (typeof text !== "string") return text
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** A whole result as columns + plain rows; columns of DuckDB's JSON type come back parsed. */
export const toQueryResult = (reader: DuckDBResultReader): QueryResult => {
  const columns = reader.columnNames()
  const isJson = columns.map((_, i) => reader.columnType(i).alias === "JSON")
  const rows = reader.getRowsJS().map((row) => row.map((v, i) => (isJson[i] ? parseJson(v) : toPlain(v))))
  return { columns, rows }
}

type Row = Record<string, unknown>

/** Rows as objects keyed by column name, with plain values. */
export const rowObjects = (reader: DuckDBResultReader): ReadonlyArray<Row> =>
  reader.getRowObjectsJS().map((row) => toPlain(row) as Row)

const str = (v: unknown): string => v as string
const num = (v: unknown): number => v as number
const optStr = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string))
const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : (v as number))

export const runRow = (r: Row): RunRow => ({
  runId: str(r.run_id),
  name: str(r.name),
  experiment: str(r.experiment),
  config: parseJson(r.config),
  seed: num(r.seed),
  pairSource: str(r.pair_source),
  loss: str(r.loss),
  beta: num(r.beta),
  status: str(r.status) as RunStatus,
  createdAt: str(r.created_at),
  codeVersion: str(r.code_version),
  backend: optStr(r.backend),
  device: optStr(r.device)
})

/** policyCkpt / refCkpt read as "" when the round's "started" write did not set them. */
export const roundRow = (r: Row): RoundRow => ({
  runId: str(r.run_id),
  round: num(r.round),
  policyCkpt: optStr(r.policy_ckpt) ?? "",
  refCkpt: optStr(r.ref_ckpt) ?? "",
  outputCkpt: optStr(r.output_ckpt),
  stage: str(r.stage) as Stage,
  startedAt: str(r.started_at),
  finishedAt: optStr(r.finished_at)
})

export const checkpointRow = (r: Row): CheckpointRow => ({
  ckptId: str(r.ckpt_id),
  path: str(r.path),
  parent: optStr(r.parent),
  runId: str(r.run_id),
  round: num(r.round),
  nParams: num(r.n_params)
})

/** Log-probs come back as the Float32 values stored (Math.fround of what was written). */
export const rolloutRow = (r: Row): RolloutWrite => ({
  rolloutId: str(r.rollout_id),
  runId: str(r.run_id),
  round: num(r.round),
  purpose: str(r.purpose) as RolloutPurpose,
  promptId: str(r.prompt_id),
  sampleIdx: num(r.sample_idx),
  policyCkpt: str(r.policy_ckpt),
  tokenIds: r.token_ids as Array<number>,
  tokenLogprobs: r.token_logprobs as Array<number>,
  logprobSum: num(r.logprob_sum),
  length: num(r.length),
  finishReason: str(r.finish_reason) as FinishReason,
  params: {
    temperature: num(r.temperature),
    topK: num(r.top_k),
    topP: num(r.top_p),
    minP: num(r.min_p),
    repetitionPenalty: num(r.repetition_penalty),
    maxNewTokens: num(r.max_new_tokens),
    stop: r.stop as Array<string>
  },
  seed: num(r.seed),
  text: str(r.text)
})

export const scoreRow = (r: Row): ScoreRow => ({
  rolloutId: str(r.rollout_id),
  source: str(r.source),
  reward: num(r.reward),
  goldReward: optNum(r.gold_reward)
})

export const pairRow = (r: Row): PreferencePair => ({
  pairId: str(r.pair_id),
  runId: str(r.run_id),
  round: num(r.round),
  promptId: str(r.prompt_id),
  chosenId: str(r.chosen_id),
  rejectedId: str(r.rejected_id),
  margin: num(r.margin),
  strategy: str(r.strategy),
  refChosenLogp: optNum(r.ref_chosen_logp),
  refRejectedLogp: optNum(r.ref_rejected_logp)
})

export const advantageRow = (r: Row): AdvantageRow => ({
  rolloutId: str(r.rollout_id),
  runId: str(r.run_id),
  round: num(r.round),
  promptId: str(r.prompt_id),
  reward: num(r.reward),
  kl: num(r.kl),
  rlhfReward: num(r.rlhf_reward),
  baseline: num(r.baseline),
  advantage: num(r.advantage)
})
