// The user's own experiment through the real `odpo` bin: a prompts file, demonstrations, and a
// reward server on 127.0.0.1 (an ONNX reward model behind OpenRLHF's protocol). kill -9 in an
// HTTP-scored round resumes to the same rows, from the stored prompts even after the file changed;
// a reward that fails leaves the database as it was before the stage, and `odpo resume` retries it.
import { assert, describe, it } from "@effect/vitest"
import { RunStore, Tasks } from "@odpo/core"
import { Effect } from "effect"
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startRewardServer } from "../../scorer/test/RewardServer.ts"
import { storeLayer } from "../src/Services.ts"
import { starterFiles } from "../src/commands/init.ts"
import { killBeforeRecording, odpo, repoRoot, runOnly } from "./CliProcess.ts"
import { dumpRun, promptTables } from "./Tables.ts"

const words = ["cat", "dog", "sun", "sky", "red", "blue"]
const experiment = (dir: string, reward: unknown, over: Record<string, unknown> = {}) => {
  const lines = (n: number, row: (i: number) => unknown) => Array.from({ length: n }, (_, i) => JSON.stringify(row(i))).join("\n") + "\n"
  writeFileSync(join(dir, "prompts.jsonl"), lines(12, (i) => ({ id: `q${i}`, prompt: `say ${words[i % 6]}:`, target: words[i % 6] })))
  writeFileSync(join(dir, "demos.jsonl"), lines(48, (i) => ({ prompt: `say ${words[i % 6]}:`, completion: ` ${words[(i * 5) % 6]}` })))
  const config = join(dir, "config.json")
  writeFileSync(config, JSON.stringify({
    name: "mine", experiment: "custom", seed: 2, rounds: 2,
    task: { name: "prompts", train: join(dir, "prompts.jsonl"), evalFraction: 0.25, idColumn: "id", demonstrations: join(dir, "demos.jsonl") },
    policy: { model: { contextLength: 20, dModel: 16, nLayers: 1, nHeads: 2 }, sft: { steps: 10, batchSize: 8, learningRate: 0.01 } },
    sampling: { promptsPerRound: 3, samplesPerPrompt: 3, maxNewTokens: 6 },
    training: { batchSize: 2, learningRate: 0.01 },
    eval: { prompts: 3, samplesPerPrompt: 2 },
    engine: { backend: "cpu" },
    reward,
    ...over
  }))
  return config
}

const roundsOf = (db: string, runId: string) =>
  Effect.map(Effect.flatMap(RunStore.RunStore, (s) => s.listRounds(runId)), (rs) => rs.map((r) => [r.round, r.stage])).pipe(Effect.provide(storeLayer(db)))
const count = (db: string, sql: string) =>
  Effect.map(Effect.flatMap(RunStore.RunStore, (s) => s.query(sql)), (r) => Number(r.rows[0]![0])).pipe(Effect.provide(storeLayer(db)))

describe("your own experiment", () => {
  it.live("kill -9 during an HTTP-scored round; the prompts file changed; resume ends with an uninterrupted run's rows", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-own-"))
      const server = yield* Effect.acquireRelease(Effect.promise(() => startRewardServer(dir, Tasks.asciiTokenizer)), (s) => Effect.promise(() => s.close()))
      const config = experiment(dir, { type: "http", url: server.url, batchSize: 4, concurrency: 2, labelColumn: "target" })
      const clean = join(dir, "clean.duckdb")
      const crashed = join(dir, "crashed.duckdb")
      const whole = yield* Effect.promise(() => odpo(["run", config, "--db", clean]))
      assert.strictEqual(whole.code, 0, whole.stderr)

      yield* Effect.promise(() => killBeforeRecording(["run", config, "--db", crashed], "1:scores", dir))
      const run = yield* runOnly(crashed)
      assert.deepStrictEqual(yield* roundsOf(crashed, run.runId), [[0, "eval"], [1, "rollouts"]])
      // The file changes under the run: it goes on with the prompts it stored, and says so.
      appendFileSync(join(dir, "prompts.jsonl"), JSON.stringify({ id: "new", prompt: "say new:", target: "new" }) + "\n")
      const resumed = yield* Effect.promise(() => odpo(["resume", run.runId, "--db", crashed]))
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.include(resumed.stderr, "prompts.jsonl has changed since this run read it")

      const a = yield* dumpRun((yield* runOnly(clean)).runId, promptTables).pipe(Effect.provide(storeLayer(clean)))
      const b = yield* dumpRun(run.runId, promptTables).pipe(Effect.provide(storeLayer(crashed)))
      for (const table of Object.keys(a)) {
        assert.isAbove(a[table]!.length, 0, table)
        assert.deepStrictEqual(b[table], a[table], `table ${table} differs after kill + resume`)
      }
      // Every rollout joins its prompt's row, extra columns included; 9 prompts train, 3 held out.
      assert.strictEqual(yield* count(crashed, `SELECT count(*) FROM rollouts r JOIN prompt_data d USING (prompt_id) WHERE d.columns->>'target' IS NOT NULL AND r.run_id = '${run.runId}'`),
        yield* count(crashed, `SELECT count(*) FROM rollouts WHERE run_id = '${run.runId}'`))
      assert.strictEqual(yield* count(crashed, "SELECT sum(rows) FROM prompt_files"), 12)
      assert.strictEqual(yield* count(crashed, "SELECT count(*) FROM prompt_data"), 12)
    }).pipe(Effect.scoped))

  it.live("a reward server answering 500, a reward function that throws: the run stops with the reason, the stage is not recorded, resume retries it", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-own-bad-"))
      const server = yield* Effect.acquireRelease(Effect.promise(() => startRewardServer(dir, Tasks.asciiTokenizer)), (s) => Effect.promise(() => s.close()))
      const db = join(dir, "runs.duckdb")
      // The server answers the run's reward check (one request, before the run's row), then goes down.
      server.behaviour.answerFirst = 1
      server.behaviour.fail500 = 1000
      const http = experiment(dir, { type: "http", url: server.url, retries: 1, backoffMs: 10 }, { rounds: 1 })
      const failed = yield* Effect.promise(() => odpo(["run", http, "--db", db]))
      assert.notStrictEqual(failed.code, 0)
      assert.include(failed.stderr, `reward server ${server.url} answered 500 Internal Server Error: reward model overloaded`)
      const run = yield* runOnly(db)
      // π₀ and the prompts are recorded; the evaluation, whose scoring failed, left nothing.
      assert.deepStrictEqual(yield* roundsOf(db, run.runId), [[0, "started"]])
      assert.strictEqual(yield* count(db, "SELECT count(*) FROM rollouts"), 0)
      assert.strictEqual(yield* count(db, "SELECT count(*) FROM scores"), 0)
      server.behaviour.fail500 = 0
      const resumed = yield* Effect.promise(() => odpo(["resume", run.runId, "--db", db]))
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.deepStrictEqual(yield* roundsOf(db, run.runId), [[0, "eval"], [1, "eval"]])

      // A function that answers its first call (the run's reward check, before the run's row), then
      // throws while a flag file exists.
      const flag = join(dir, "judge-down")
      writeFileSync(flag, "")
      writeFileSync(join(dir, "judge.ts"), `import { existsSync } from "node:fs"
let calls = 0
export const reward = ({ completions, target }: { completions: string[]; target: string[] }) => {
  if (++calls > 1 && existsSync(${JSON.stringify(flag)})) throw new Error("the judge is down")
  return completions.map((c, i) => (c.includes(target[i]!) ? 1 : 0))
}`)
      const fn = experiment(dir, { type: "function", module: join(dir, "judge.ts") }, { rounds: 1, name: "judged" })
      const db2 = join(dir, "judged.duckdb")
      const threw = yield* Effect.promise(() => odpo(["run", fn, "--db", db2]))
      assert.notStrictEqual(threw.code, 0)
      assert.match(threw.stderr, /reward function:\S*judge\.ts#reward threw on the batch starting at rollout judged-\d{14}-\w{4}\/0\/eval\/prompts\/[0-9a-f]{12}\/heldout\/q\d+\/0: the judge is down/)
      const judged = yield* runOnly(db2)
      assert.deepStrictEqual(yield* roundsOf(db2, judged.runId), [[0, "started"]])
      rmSync(flag)
      const again = yield* Effect.promise(() => odpo(["resume", judged.runId, "--db", db2]))
      assert.strictEqual(again.code, 0, again.stderr)
      assert.strictEqual(yield* count(db2, "SELECT count(*) FROM scores WHERE source LIKE 'function:%'"), yield* count(db2, "SELECT count(*) FROM rollouts"))
    }).pipe(Effect.scoped))

  it.live("bad prompt files stop `odpo run` before anything is written: a missing column lists the file's columns", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-own-input-"))
      const db = join(dir, "runs.duckdb")
      const config = experiment(dir, { type: "function", module: join(dir, "r.ts") }, {})
      writeFileSync(join(dir, "r.ts"), "export const reward = ({ completions }: { completions: string[] }) => completions.map(() => 0)")
      const text = JSON.parse(readFileSync(config, "utf8")) as { task: Record<string, unknown> }
      writeFileSync(config, JSON.stringify({ ...text, task: { ...text.task, promptColumn: "question" } }))
      const bad = yield* Effect.promise(() => odpo(["run", config, "--db", db]))
      assert.notStrictEqual(bad.code, 0)
      assert.include(bad.stderr, `prompts.jsonl has no column "question"; its columns are "id", "prompt", "target": set task.promptColumn to one of them`)
      assert.isTrue(!existsSync(db) || (yield* count(db, "SELECT count(*) FROM runs")) === 0)
    }))
})

describe("odpo init", () => {
  it.live("writes the starter experiment, byte for byte what experiments/custom holds; refuses a non-empty directory", () =>
    Effect.gen(function*() {
      const dir = join(mkdtempSync(join(tmpdir(), "odpo-init-")), "mine")
      const made = yield* Effect.promise(() => odpo(["init", dir]))
      assert.strictEqual(made.code, 0, made.stderr)
      const files = Object.keys(starterFiles())
      assert.deepStrictEqual(files.sort(), ["demonstrations.jsonl", "offline.json", "online.json", "prompts.jsonl", "rewards/reward.ts"])
      for (const f of files) assert.strictEqual(readFileSync(join(dir, f), "utf8"), readFileSync(join(repoRoot, "experiments/custom", f), "utf8"), f)
      assert.strictEqual(readFileSync(join(dir, "prompts.jsonl"), "utf8").trim().split("\n").length, 80)
      const again = yield* Effect.promise(() => odpo(["init", dir]))
      assert.notStrictEqual(again.code, 0)
      assert.include(again.stderr, "is not empty: name a new or empty directory")
    }))
})

describe("odpo sft", () => {
  it.live("trains π₀ on task.demonstrations, prints a checkpoint; a run of the same config starts from that very π₀", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-sft-"))
      writeFileSync(join(dir, "r.ts"), "export const reward = ({ completions }: { completions: string[] }) => completions.map((c) => c.length)")
      const config = experiment(dir, { type: "function", module: join(dir, "r.ts") }, { rounds: 1 })
      const db = join(dir, "runs.duckdb")
      const sft = yield* Effect.promise(() => odpo(["sft", config, "--db", db]))
      assert.strictEqual(sft.code, 0, sft.stderr)
      const [line, path] = sft.stdout.trim().split("\n")
      const id = line!.replace("π₀ ", "")
      assert.match(id, /^[0-9a-f]{64}$/)
      assert.isTrue(existsSync(join(path!, "model.safetensors")))
      const run = yield* Effect.promise(() => odpo(["run", config, "--db", db]))
      assert.strictEqual(run.code, 0, run.stderr)
      assert.include(run.stderr, `round 0: π₀ ${id.slice(0, 12)} reused`)
      const runId = (yield* runOnly(db)).runId
      const rounds = yield* Effect.flatMap(RunStore.RunStore, (s) => s.listRounds(runId)).pipe(Effect.provide(storeLayer(db)))
      assert.strictEqual(rounds[0]!.policyCkpt, id)
    }))
})
