// Issue #20's own experiment end to end through the real `odpo` bin, on the path no other test
// takes: prompts from a Parquet file (written here by DuckDB, with list and struct columns beside
// the prompt), a reward function that reads the file's ground_truth column, and π₀ a Hugging Face
// Llama directory (policy.init). The online and offline arms run, then `odpo compare` and `odpo report`.
import { DuckDBInstance } from "@duckdb/node-api"
import { assert, describe, it } from "@effect/vitest"
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { odpo, repoRoot } from "./CliProcess.ts"

const LLAMA = join(repoRoot, "packages/model/test/fixtures/llama/llama_tiny")
const ROUNDS = 2
const PROMPTS_PER_ROUND = 3
const SAMPLES = 3
const EVAL_PROMPTS = 2
const EVAL_SAMPLES = 2

const ok = async (args: ReadonlyArray<string>) => {
  const r = await odpo(args)
  assert.strictEqual(r.code, 0, `odpo ${args.join(" ")}\n${r.stderr}`)
  return r
}

const query = async (db: string, sql: string) =>
  JSON.parse((await ok(["query", sql, "--db", db, "--format", "json"])).stdout) as Array<Record<string, unknown>>

/** 10 prompts in the fixture's word-level vocabulary (w0…w44): "w3 w4 w5", its answer "w6", … */
const writeParquet = async (file: string) => {
  const rows = Array.from({ length: 10 }, (_, i) => {
    const w = (k: number) => `w${(3 * i + k) % 45}`
    return `('p${i}', '${w(0)} ${w(1)} ${w(2)}', '${w(3)}', ['${w(3)}', '${w(4)}'], {'level': ${i % 3}, 'source': 'test'})`
  })
  const instance = await DuckDBInstance.create(":memory:")
  const conn = await instance.connect()
  try {
    await conn.run(`COPY (SELECT * FROM (VALUES ${rows.join(", ")}) t(id, question, ground_truth, accepted, meta))
      TO '${file.replaceAll("'", "''")}' (FORMAT parquet)`)
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
}

describe("your own experiment: Parquet prompts, a function reward, a Hugging Face Llama π₀", () => {
  it("online and offline arms run to the end; every rollout joins its Parquet row; compare and report name both", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-own-parquet-"))
    const init = join(dir, "llama_tiny")
    cpSync(LLAMA, init, { recursive: true })
    const vocab = JSON.parse(readFileSync(join(init, "tokenizer.json"), "utf8")).model.vocab as Record<string, number>
    await writeParquet(join(dir, "prompts.parquet"))
    // Every word of every prompt is one of the tokenizer's (no <unk>).
    for (let i = 0; i < 10; i++) for (let k = 0; k < 4; k++) assert.isDefined(vocab[`w${(3 * i + k) % 45}`])

    // The answer word anywhere in the completion scores 1, each accepted word 0.5 more, and the word
    // nearest the answer (w<n>) up to 0.1: few ties, so pairs form. The struct column rides along.
    writeFileSync(join(dir, "judge.ts"), `export const reward = ({ completions, ground_truth, accepted, meta }: {
  completions: string[]; ground_truth: string[]; accepted: string[][]; meta: Array<{ level: number }>
}) => completions.map((c, i) => {
  if (typeof meta[i]!.level !== "number") throw new Error("meta.level is not a number")
  const words = c.split(/\\s+/).filter((w) => /^w\\d+$/.test(w))
  const gap = Math.min(45, ...words.map((w) => Math.abs(Number(w.slice(1)) - Number(ground_truth[i]!.slice(1)))))
  return (words.includes(ground_truth[i]!) ? 1 : 0) + 0.5 * accepted[i]!.filter((a) => words.includes(a)).length + 0.1 * (1 - gap / 45)
})
`)
    const online = join(dir, "online.json")
    writeFileSync(online, JSON.stringify({
      name: "pq-online", experiment: "custom", seed: 3, rounds: ROUNDS, pairSource: "online",
      task: { name: "prompts", train: join(dir, "prompts.parquet"), promptColumn: "question", idColumn: "id", evalFraction: 0.2 },
      policy: { init },
      sampling: { promptsPerRound: PROMPTS_PER_ROUND, samplesPerPrompt: SAMPLES, maxNewTokens: 4 },
      reward: { type: "function", module: join(dir, "judge.ts") },
      pairing: { strategy: "max_min" },
      training: { batchSize: 2, learningRate: 0.01 },
      eval: { prompts: EVAL_PROMPTS, samplesPerPrompt: EVAL_SAMPLES },
      engine: { backend: "cpu" }
    }))
    const offline = join(dir, "offline.json")
    writeFileSync(offline, JSON.stringify({ extends: "online.json", name: "pq-offline", pairSource: "offline" }))
    const db = join(dir, "runs.duckdb")
    await ok(["run", online, "--db", db])
    await ok(["run", offline, "--db", db])

    const runs = await query(db, `SELECT runs.name, runs.status, runs.pair_source, c.path AS pi0, (SELECT sum(rows)::INT FROM prompt_files f WHERE f.run_id = runs.run_id) AS file_rows
      FROM runs JOIN rounds r ON r.run_id = runs.run_id AND r.round = 0 JOIN checkpoints c ON c.ckpt_id = r.policy_ckpt ORDER BY runs.name`)
    assert.deepStrictEqual(runs.map((r) => [r.name, r.status, r.pair_source, r.file_rows]), [["pq-offline", "finished", "offline", 10], ["pq-online", "finished", "online", 10]])
    // π₀ is the Hugging Face directory, converted once into the checkpoint store (recorded relative to the
    // database's folder): the same checkpoint for both arms.
    assert.strictEqual(runs[0]!.pi0, runs[1]!.pi0)
    const pi0 = JSON.parse(readFileSync(join(resolve(dir, String(runs[0]!.pi0)), "config.json"), "utf8"))
    assert.strictEqual(pi0.architecture, "llama")

    // Per run and round, the train rollouts (3 prompts × 2 samples), the eval rollouts (2 held-out
    // prompts × 2) and how many train rollouts π₀ drew: offline pairs always come from π₀, online from the round's policy.
    const perRound = await query(db, `SELECT runs.name, r.round,
        count(*) FILTER (WHERE r.purpose = 'train')::INT AS train, count(*) FILTER (WHERE r.purpose = 'eval')::INT AS eval,
        count(*) FILTER (WHERE r.purpose = 'train' AND r.policy_ckpt = (SELECT policy_ckpt FROM rounds z WHERE z.run_id = r.run_id AND z.round = 0))::INT AS from_pi0,
        avg(s.reward) FILTER (WHERE r.purpose = 'eval') AS eval_reward
      FROM rollouts r JOIN runs USING (run_id) JOIN scores s ON s.rollout_id = r.rollout_id AND s.source LIKE 'function:%'
      GROUP BY ALL ORDER BY ALL`)
    const T = PROMPTS_PER_ROUND * SAMPLES
    const E = EVAL_PROMPTS * EVAL_SAMPLES
    assert.deepStrictEqual(perRound.map((r) => [r.name, r.round, r.train, r.eval, r.from_pi0]), [
      ["pq-offline", 0, 0, E, 0], ["pq-offline", 1, T, E, T], ["pq-offline", 2, T, E, T],
      ["pq-online", 0, 0, E, 0], ["pq-online", 1, T, E, T], ["pq-online", 2, T, E, 0]
    ])
    // Every rollout's prompt has its Parquet row in prompt_data: ground_truth, the list and the struct,
    // as the file holds them (p1: "w3 w4 w5" → w6); each rollout has one finite function score in [0, 2.1].
    const [joined] = await query(db, `SELECT (SELECT count(*)::INT FROM rollouts) AS rollouts,
        count(*) FILTER (WHERE d.columns->>'ground_truth' = 'w' || (3 * (d.columns->>'id')[2:]::INT + 3) % 45
                         AND json_array_length(d.columns->'accepted') = 2
                         AND (d.columns->'meta'->>'level')::INT = (d.columns->>'id')[2:]::INT % 3)::INT AS with_columns,
        (SELECT columns::VARCHAR FROM prompt_data WHERE columns->>'id' = 'p1') AS p1,
        (SELECT prompt::VARCHAR FROM prompt_data WHERE columns->>'id' = 'p1') AS p1_prompt,
        (SELECT count(*)::INT FROM scores s WHERE s.source LIKE 'function:%judge.ts#reward' AND isfinite(s.reward) AND s.reward BETWEEN 0 AND 2.1) AS scored,
        (SELECT count(*)::INT FROM rollouts WHERE list_max(token_ids) >= 48) AS out_of_vocab
      FROM rollouts r JOIN prompt_data d USING (prompt_id)`)
    // 2 runs × (2 train rounds × T + 3 evaluations × E held-out rollouts and E of π₀'s for the win rate).
    assert.strictEqual(joined!.rollouts, 2 * (2 * T + 3 * 2 * E))
    assert.strictEqual(joined!.with_columns, joined!.rollouts)
    assert.deepStrictEqual(JSON.parse(String(joined!.p1)), { id: "p1", ground_truth: "w6", accepted: ["w6", "w7"], meta: { level: 1, source: "test" } })
    assert.strictEqual(JSON.parse(String(joined!.p1_prompt)), "w3 w4 w5")
    assert.strictEqual(joined!.scored, joined!.rollouts)
    assert.strictEqual(joined!.out_of_vocab, 0)

    const compared = await ok(["compare", "pq-online", "pq-offline", "--db", db, "--format", "json"])
    const rows = JSON.parse(compared.stdout) as Array<Record<string, unknown>>
    assert.deepStrictEqual(rows.map((r) => [r.round, r.name]), [0, 1, 2].flatMap((round) => [[round, "pq-online"], [round, "pq-offline"]]))
    // Its reward column is the mean function score of the round's held-out rollouts, as stored.
    for (const r of rows) {
      const stored = perRound.find((p) => p.name === r.name && p.round === r.round)!
      assert.isTrue(Number.isFinite(Number(r.reward)), `reward of ${r.name} round ${r.round}: ${r.reward}`)
      assert.closeTo(Number(r.reward), Number(stored.eval_reward), 1e-9, `${r.name} round ${r.round}`)
    }
    // Both arms made pairs and trained each round (so online's round 2 drew from a trained policy, above).
    assert.deepStrictEqual(rows.map((r) => Number(r.pairs) > 0), [false, false, true, true, true, true])
    // Round 0 is the same π₀ on the same held-out prompts and seed: the same mean reward.
    assert.strictEqual(rows[0]!.reward, rows[1]!.reward)

    const html = join(dir, "report.html")
    await ok(["report", "pq-online", "pq-offline", "--db", db, "--out", html])
    assert.isTrue(existsSync(html))
    const page = readFileSync(html, "utf8")
    assert.include(page, "pq-online")
    assert.include(page, "pq-offline")
  })
})
