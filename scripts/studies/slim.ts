/**
 * A study's results database small enough to commit: every table of SOURCE except the bulky
 * per-sample ones (rollouts, scores, pairs, prompts, advantages, step_samples), in a new DEST
 * created by the run store itself (so it is at the store's current schema and its views work on
 * what is kept).
 * With --eval, the held-out samples (rollouts of purpose 'eval', their scores and prompts) are
 * kept too, so that `eval_extremes` works. SOURCE is attached read-only: slim a finished study.
 *
 * A DEST ending in .gz is written as a results archive (gzip -9n of the slimmed database), the form
 * the studies commit: odpo reads it as it is.
 *
 * Usage: npx -y pnpm@12.4.2 exec tsx scripts/studies/slim.ts SOURCE.duckdb DEST.duckdb[.gz] [--eval]
 * e.g.   … runs/bandit-study.duckdb experiments/bandit/results/bandit.duckdb.gz
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { RunStore } from "@odpo/core"
import { Console, Effect } from "effect"
import { existsSync, rmSync, statSync } from "node:fs"
import { resolve } from "node:path"

const args = process.argv.slice(2)
const withEval = args.includes("--eval")
const [source, target] = args.filter((a) => a !== "--eval").map((a) => resolve(a))
if (source === undefined || target === undefined || !existsSync(source)) {
  console.error("usage: slim.ts SOURCE.duckdb DEST.duckdb[.gz] [--eval]   (SOURCE must exist)")
  process.exit(2)
}
// An archive is slimmed into a database beside it first, then compressed.
const archive = RunStore.isArchive(target) ? target : null
const dest = archive === null ? target : target.replace(/\.gz$/, "")

// Small per-run or per-round tables: kept whole. The policy-gradient advantages are per sample
// too (one row per train rollout of an RL round: ~1 MB for the 12 RL runs of rlhf-vs-dpo), so
// they are left out with the rest; `policy_gradient_steps` reads train_steps and still works.
const kept = ["runs", "rounds", "checkpoints", "pair_filters", "train_steps", "evals", "stage_times"]
const sql = [
  `ATTACH '${source.replaceAll("'", "''")}' AS src (READ_ONLY)`,
  ...kept.map((t) => `INSERT INTO ${t} BY NAME SELECT * FROM src.${t}`),
  ...(withEval
    ? [
      `INSERT INTO rollouts BY NAME SELECT * FROM src.rollouts WHERE purpose = 'eval'`,
      `INSERT INTO scores BY NAME SELECT s.* FROM src.scores s JOIN rollouts r USING (rollout_id)`,
      `INSERT INTO prompts BY NAME SELECT * FROM src.prompts WHERE prompt_id IN (SELECT prompt_id FROM rollouts)`
    ]
    : []),
  `SELECT ${kept.map((t) => `(SELECT count(*) FROM ${t}) AS ${t}`).join(", ")}, (SELECT count(*) FROM rollouts) AS rollouts`
].join(";\n")

const program = Effect.gen(function*() {
  const store = yield* RunStore.RunStore
  const counts = yield* store.query(sql, { write: true })
  const row = counts.rows[0] ?? []
  yield* Console.log(counts.columns.map((c, i) => `${c} ${row[i]}`).join(", "))
}).pipe(Effect.provide(RunStore.RunStore.layer(dest)))

for (const f of [dest, `${dest}.wal`]) rmSync(f, { force: true })
// DuckDB's default 256 KiB blocks give each kept table at least one: a file of a few hundred KB
// of rows would weigh ~5 MB. A new file can be made with 16 KiB blocks; the store then migrates it.
const created = await DuckDBInstance.create(":memory:")
const conn = await created.connect()
await conn.run(`ATTACH '${dest.replaceAll("'", "''")}' AS dest (BLOCK_SIZE 16384)`)
await conn.run("DETACH dest")
conn.closeSync()
created.closeSync()
await Effect.runPromise(program)
console.log(`${dest}: ${(statSync(dest).size / 1e6).toFixed(2)} MB`)
if (archive !== null) {
  await RunStore.writeArchive(dest, archive)
  for (const f of [dest, `${dest}.wal`]) rmSync(f, { force: true })
  console.log(`${archive}: ${(statSync(archive).size / 1e6).toFixed(2)} MB`)
}
