import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Prompt } from "../src/Domain.ts"
import { connect, exec } from "../src/internal/store/connection.ts"
import { currentVersion, migrate, migrations } from "../src/internal/store/migrations.ts"
import { defaultDbFile, RunStore, type RolloutWrite, type RunRow, type StageWrite } from "../src/RunStore.ts"

const tempDb = (name = "odpo.duckdb") => join(mkdtempSync(join(tmpdir(), "odpo-store-")), "nested", "dir", name)
const fixture = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "hold-store.mjs")

const run = (runId: string, name: string, createdAt = "2025-01-01T00:00:00.000Z"): RunRow => ({
  runId, name, experiment: "bandit", config: { loss: { type: "sigmoid", beta: 0.1 }, tags: ["a"] }, seed: 7,
  pairSource: "online", loss: "sigmoid", beta: 0.1, status: "running", createdAt, codeVersion: "test", backend: "cpu", device: "cpu (pure JS)"
})

const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 40, stop: ["\n"] }

const rollout = (id: string, runId: string, round: number, promptId: string, sampleIdx: number, tokenIds: Array<number>, purpose: RolloutWrite["purpose"] = "train"): RolloutWrite => ({
  rolloutId: id, runId, round, purpose, promptId, sampleIdx, policyCkpt: "ck0", tokenIds,
  text: tokenIds.join(" "), tokenLogprobs: tokenIds.map((t) => -t / 7), logprobSum: tokenIds.reduce((a, t) => a - t / 7, 0),
  length: tokenIds.length, finishReason: tokenIds[tokenIds.length - 1] === 2 ? "eos" : "length", params, seed: sampleIdx
})

const prompt = (promptId: string): Prompt => ({ promptId, task: "bandit", split: "train", text: `p ${promptId}`, tokenIds: [1, 3, 4] })

const count = (store: RunStore["Service"], sql: string) =>
  Effect.map(store.query(sql), (r) => r.rows[0][0] as number)

const withStore = <A, E>(file: string, body: (store: RunStore["Service"]) => Effect.Effect<A, E>, lockTimeoutMs?: number) =>
  Effect.gen(function*() {
    return yield* body(yield* RunStore)
  }).pipe(Effect.provide(RunStore.layer(file, lockTimeoutMs === undefined ? {} : { lockTimeoutMs })))

const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")

describe("RunStore", () => {
  it("has a default file", () => {
    assert.strictEqual(defaultDbFile, "runs/odpo.duckdb")
  })

  it.effect("round-trips 10,000 rollouts with token and log-prob lists", () =>
    withStore(tempDb(), (store) =>
      Effect.gen(function*() {
        // Deterministic pseudo-random lengths 1..40 and token ids 0..99.
        let s = 12345
        const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648
        const rollouts: Array<RolloutWrite> = []
        for (let i = 0; i < 10_000; i++) {
          const tokenIds = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 100))
          const tokenLogprobs = tokenIds.map(() => Math.log(rand() + 1e-9))
          rollouts.push({
            ...rollout(`r${i}`, "run1", 1, `p${i % 500}`, Math.floor(i / 500), tokenIds),
            tokenLogprobs, logprobSum: tokenLogprobs.reduce((a, b) => a + b, 0), seed: 1_000_000_000 + i
          })
        }
        yield* store.recordStage({ runId: "run1", round: 1, stage: "rollouts", rollouts, prompts: Array.from({ length: 500 }, (_, i) => prompt(`p${i}`)) })
        const back = yield* store.readRollouts("run1", 1, "train")
        assert.strictEqual(back.length, 10_000)
        const expected = rollouts.map((r) => ({ ...r, tokenLogprobs: r.tokenLogprobs.map(Math.fround) }))
        assert.deepStrictEqual(back, expected)
        assert.notStrictEqual(back[0].tokenLogprobs[0], rollouts[0].tokenLogprobs[0]) // stored as FLOAT, not DOUBLE
        const tokens = yield* count(store, "SELECT sum(len(token_ids)) FROM rollouts")
        assert.strictEqual(tokens, rollouts.reduce((a, r) => a + r.tokenIds.length, 0))
        assert.strictEqual(yield* count(store, "SELECT count(*) FROM prompts"), 500)
        assert.lengthOf(yield* store.readRollouts("run1", 1, "eval"), 0)
      })))

  it.effect("a failing stage leaves no rows of that stage and the old stage marker", () =>
    withStore(tempDb(), (store) =>
      Effect.gen(function*() {
        yield* store.createRun(run("a", "a"))
        yield* store.recordStage({ runId: "a", round: 1, stage: "started", round_: { policyCkpt: "ck0", refCkpt: "ck0" } })
        const rollouts = [rollout("x1", "a", 1, "p1", 0, [5, 2]), rollout("x2", "a", 1, "p1", 1, [6, 2])]
        const duplicateKey: StageWrite = {
          runId: "a", round: 1, stage: "scores", prompts: [prompt("p1")], rollouts,
          scores: [
            { rolloutId: "x1", source: "task", reward: 1, goldReward: 1 },
            { rolloutId: "x1", source: "task", reward: 0, goldReward: 0 }
          ]
        }
        const e1 = yield* Effect.flip(store.recordStage(duplicateKey))
        assert.strictEqual(e1._tag, "StoreError")
        assert.include(e1.message, `scores holds two rows with rollout_id = "x1", source = "task"`)
        // A value the appender cannot convert (a fractional count into BIGINT) in the last table
        // staged, after prompts, rollouts, scores and pairs were already merged in the transaction.
        const goodPair = { pairId: "q1", runId: "a", round: 1, promptId: "p1", chosenId: "x1", rejectedId: "x2", margin: 1, strategy: "max_min", refChosenLogp: null, refRejectedLogp: null }
        const badValue: StageWrite = {
          runId: "a", round: 1, stage: "pairs", prompts: [prompt("p1")], rollouts,
          scores: [{ rolloutId: "x1", source: "task", reward: 1, goldReward: null }],
          pairs: [goodPair], pairFilters: [{ runId: "a", round: 1, filter: "ties", count: 0.5 }]
        }
        const e2 = yield* Effect.flip(store.recordStage(badValue))
        assert.include(e2.message, "cannot write pair_filters")
        // A row DuckDB refuses (NULL in a NOT NULL column) when it is merged into its table.
        const nullMargin: StageWrite = { ...badValue, pairFilters: [], pairs: [{ ...goodPair, margin: null as unknown as number }] }
        const e3 = yield* Effect.flip(store.recordStage(nullMargin))
        assert.include(e3.message, "NOT NULL constraint failed: pairs.margin")
        for (const table of ["prompts", "rollouts", "scores", "pairs", "pair_filters"]) {
          assert.strictEqual(yield* count(store, `SELECT count(*) FROM ${table}`), 0, table)
        }
        const rounds = yield* store.listRounds("a")
        assert.deepStrictEqual(rounds.map((r) => [r.round, r.stage, r.policyCkpt, r.finishedAt]), [[1, "started", "ck0", null]])
      })))

  it.effect("writing a stage twice adds nothing, and never moves the marker back", () =>
    withStore(tempDb(), (store) =>
      Effect.gen(function*() {
        yield* store.createRun(run("a", "a"))
        const write: StageWrite = {
          runId: "a", round: 0, stage: "rollouts", prompts: [prompt("p1"), prompt("p1"), prompt("p2")],
          checkpoints: [{ ckptId: "ck0", path: "/ck/0", parent: null, runId: "a", round: 0, nParams: 12345 }],
          rollouts: [rollout("x1", "a", 0, "p1", 0, [5, 2]), rollout("x2", "a", 0, "p2", 0, [6, 6, 2])]
        }
        yield* store.recordStage(write)
        yield* store.recordStage(write)
        yield* store.recordStage({ runId: "a", round: 0, stage: "scores", scores: [{ rolloutId: "x1", source: "task", reward: 0.5, goldReward: null }] })
        yield* store.recordStage(write)
        assert.strictEqual(yield* count(store, "SELECT count(*) FROM rollouts"), 2)
        assert.strictEqual(yield* count(store, "SELECT count(*) FROM prompts"), 2)
        assert.strictEqual(yield* count(store, "SELECT count(*) FROM scores"), 1)
        assert.deepStrictEqual((yield* store.listRounds("a")).map((r) => r.stage), ["scores"])
        assert.deepStrictEqual(yield* store.readCheckpoint("ck0"), { ckptId: "ck0", path: "/ck/0", parent: null, runId: "a", round: 0, nParams: 12345 })
        assert.isNull(yield* store.readCheckpoint("nope"))
        assert.deepStrictEqual(yield* store.readScores("a", 0, "train"), [{ rolloutId: "x1", source: "task", reward: 0.5, goldReward: null }])
        // Another run writing the same prompts keeps one copy of each.
        yield* store.recordStage({ ...write, runId: "b", rollouts: [], checkpoints: [] })
        assert.strictEqual(yield* count(store, "SELECT count(*) FROM prompts"), 2)
      })))

  it.effect("views give the expected numbers on a hand-built run", () =>
    withStore(tempDb(), (store) =>
      Effect.gen(function*() {
        yield* store.createRun(run("r1", "online-a"))
        const heldout = (round: number, reward: number, kl: number) => ({
          runId: "r1", round, split: "heldout",
          metrics: { "eval/reward": reward, "eval/gold_reward": reward / 2, "eval/win_rate": 0.5 + round / 10, "objective/kl": kl, "objective/entropy": 3 - round, "eval/length": 4 + round, "eval/eos_rate": 0.9 }
        })
        yield* store.recordStage({ runId: "r1", round: 0, stage: "started", round_: { policyCkpt: "ck0", refCkpt: "ck0" } })
        yield* store.recordStage({ runId: "r1", round: 0, stage: "eval", evals: [heldout(0, 0.2, 0)] })
        yield* store.recordStage({ runId: "r1", round: 1, stage: "started", round_: { policyCkpt: "ck0", refCkpt: "ck0" } })
        // p1: completions [5,6,2] twice and [7,2] (2 distinct); p2: three different (3 distinct).
        const train = [
          rollout("a1", "r1", 1, "p1", 0, [5, 6, 2]), rollout("a2", "r1", 1, "p1", 1, [5, 6, 2]), rollout("a3", "r1", 1, "p1", 2, [7, 2]),
          rollout("b1", "r1", 1, "p2", 0, [8, 2]), rollout("b2", "r1", 1, "p2", 1, [9, 9, 2]), rollout("b3", "r1", 1, "p2", 2, [4, 2])
        ]
        const evalRollouts = [rollout("e1", "r1", 1, "h1", 0, [1, 1, 1, 2], "eval"), rollout("e2", "r1", 1, "h1", 1, [1, 1, 1, 1, 1, 2], "eval")]
        yield* store.recordStage({ runId: "r1", round: 1, stage: "rollouts", rollouts: [...train, ...evalRollouts] })
        const rewards: Record<string, [number, number]> = { a1: [1, 1], a2: [1, 1], a3: [0, 0], b1: [0.5, 1], b2: [0.8, 0], b3: [0.2, 1], e1: [9, 9] }
        yield* store.recordStage({ runId: "r1", round: 1, stage: "scores", scores: Object.entries(rewards).map(([rolloutId, [reward, goldReward]]) => ({ rolloutId, source: "task", reward, goldReward })) })
        const pair = (pairId: string, promptId: string, chosenId: string, rejectedId: string) =>
          ({ pairId, runId: "r1", round: 1, promptId, chosenId, rejectedId, margin: 1, strategy: "max_min", refChosenLogp: -3, refRejectedLogp: -4 })
        yield* store.recordStage({
          runId: "r1", round: 1, stage: "pairs",
          pairs: [pair("q1", "p1", "a1", "a3"), { ...pair("q2", "p2", "b2", "b3"), flipped: true }],
          pairFilters: [["candidates", 2], ["ties", 1], ["duplicates", 2], ["margin", 0], ["kept", 2]].map(([filter, n]) => ({ runId: "r1", round: 1, filter: filter as string, count: n as number }))
        })
        const step = (s: number, loss: number, acc: number) => ({ runId: "r1", round: 1, step: s, epoch: s / 3, metrics: { loss, "rewards/accuracies": acc, "rewards/chosen": 0.1 * s, grad_norm: 2 } })
        yield* store.recordStage({ runId: "r1", round: 1, stage: "train", round_: { outputCkpt: "ck1" }, trainSteps: [step(0, 0.69, 0.5), step(1, 0.5, 1), step(2, 0.4, 0.75)] })
        yield* store.recordStage({ runId: "r1", round: 1, stage: "eval", evals: [heldout(1, 0.7, 1.2), { runId: "r1", round: 1, split: "train", metrics: { "eval/reward": 99 } }] })

        const summary = yield* store.query("SELECT * FROM round_summary")
        const row = (r: number) => Object.fromEntries(summary.columns.map((c, i) => [c, summary.rows[r][i]]))
        assert.strictEqual(summary.rows.length, 2)
        const s1 = row(1)
        assert.deepInclude(s1, { run_id: "r1", round: 1, stage: "eval", train_rollouts: 6, distinct_per_prompt: 2.5, pairs: 2, dropped_ties: 1, dropped_duplicates: 2, dropped_margin: 0, train_steps: 3, last_accuracy: 0.75, eval_reward: 0.7, eval_gold_reward: 0.35, win_rate: 0.6, kl: 1.2, entropy: 2, eval_length: 5, eos_rate: 0.9 })
        assert.closeTo(s1.train_reward as number, 3.5 / 6, 1e-12)
        assert.closeTo(s1.train_gold_reward as number, 4 / 6, 1e-12)
        assert.closeTo(s1.train_loss as number, (0.69 + 0.5 + 0.4) / 3, 1e-12)
        assert.deepInclude(row(0), { round: 0, stage: "eval", train_rollouts: 0, pairs: 0, train_steps: 0, train_loss: null, eval_reward: 0.2, kl: 0 })

        const compare = yield* store.query("SELECT name, run_id, pair_source, loss, beta, seed, round, reward, gold_reward, kl, length FROM run_compare")
        assert.deepStrictEqual(compare.rows, [["online-a", "r1", "online", "sigmoid", 0.1, 7, 0, 0.2, 0.1, 0, 4], ["online-a", "r1", "online", "sigmoid", 0.1, 7, 1, 0.7, 0.35, 1.2, 5]])
        const frontier = yield* store.query("SELECT * FROM reward_vs_kl")
        assert.deepStrictEqual(frontier.columns, ["run_id", "name", "loss", "beta", "round", "kl", "reward", "gold_reward"])
        assert.deepStrictEqual(frontier.rows[1], ["r1", "online-a", "sigmoid", 0.1, 1, 1.2, 0.7, 0.35])
        const drift = yield* store.query("SELECT round, train_length, eval_length, chosen_length, rejected_length FROM length_drift")
        assert.deepStrictEqual(drift.rows, [[0, null, null, null, null], [1, 2.5, 5, 3, 2]])

        // train_steps / evals: TRL names mapped to columns, all kept in metrics (JSON, parsed).
        const steps = yield* store.query("SELECT loss, rewards_accuracies, rewards_chosen, grad_norm, logps_chosen, metrics FROM train_steps ORDER BY step")
        assert.deepStrictEqual(steps.rows[2], [0.4, 0.75, 0.2, 2, null, { loss: 0.4, "rewards/accuracies": 0.75, "rewards/chosen": 0.2, grad_norm: 2 }])
        const rounds = yield* store.listRounds("r1")
        assert.deepStrictEqual(rounds.map((r) => [r.round, r.stage, r.policyCkpt, r.outputCkpt]), [[0, "eval", "ck0", null], [1, "eval", "ck0", "ck1"]])
        assert.isTrue(rounds.every((r) => r.finishedAt !== null && r.finishedAt >= r.startedAt))
        assert.deepStrictEqual((yield* store.readPairs("r1", 1)).map((p) => [p.pairId, p.chosenId, p.refChosenLogp, p.flipped]), [["q1", "a1", -3, false], ["q2", "b2", -3, true]])
      })))

  it.effect("finds runs by id or name, newest first, and names the runs it has when not found", () =>
    withStore(tempDb(), (store) =>
      Effect.gen(function*() {
        yield* store.createRun(run("id-old", "same", "2025-01-01T00:00:00.000Z"))
        yield* store.createRun(run("id-new", "same", "2025-02-01T00:00:00.000Z"))
        yield* store.createRun(run("id-x", "other", "2025-03-01T00:00:00.000Z"))
        const byName = yield* store.getRun("same")
        assert.deepStrictEqual(byName, run("id-new", "same", "2025-02-01T00:00:00.000Z"))
        assert.strictEqual((yield* store.getRun("id-old")).runId, "id-old")
        const missing = yield* Effect.flip(store.getRun("nope"))
        assert.strictEqual(missing._tag, "RunNotFound")
        assert.include(missing.message, `no run with id or name "nope"`)
        assert.include(missing.message, "other (id-x), same (id-new), same (id-old)")
        const dup = yield* Effect.flip(store.createRun(run("id-x", "again")))
        assert.include(dup.message, `already holds a run with id id-x (named "other")`)
        yield* store.setRunStatus("id-x", "finished")
        assert.deepStrictEqual((yield* store.listRuns()).map((r) => [r.runId, r.status]), [["id-old", "running"], ["id-new", "running"], ["id-x", "finished"]])
      })))

  it.effect("query returns plain values; a SQL error carries DuckDB's message and changes nothing", () =>
    withStore(tempDb(), (store) =>
      Effect.gen(function*() {
        yield* store.createRun(run("a", "a"))
        const plain = yield* store.query("SELECT count(*) AS n, [1, 2]::INTEGER[] AS l, config, created_at, 2::HUGEINT * 3 AS h FROM runs GROUP BY ALL")
        assert.deepStrictEqual(plain, { columns: ["n", "l", "config", "created_at", "h"], rows: [[1, [1, 2], run("a", "a").config, "2025-01-01T00:00:00.000Z", 6]] })
        const e1 = yield* Effect.flip(store.query("SELECT nope FROM runs"))
        assert.strictEqual(e1._tag, "StoreError")
        assert.match(e1.message, /^Binder Error: Referenced column "nope" not found/)
        // A write followed by a failing statement is rolled back as a whole.
        const e2 = yield* Effect.flip(store.query("UPDATE runs SET name = 'changed'; SELECT nope FROM runs", { write: true }))
        assert.match(e2.message, /Referenced column "nope"/)
        assert.strictEqual((yield* store.getRun("a")).name, "a")
        // Several statements: the last one's rows.
        const last = yield* store.query("UPDATE runs SET status = 'failed'; SELECT status FROM runs", { write: true })
        assert.deepStrictEqual(last.rows, [["failed"]])
      })))

  it.effect("query reads only unless asked to write: DROP, DELETE, UPDATE, ATTACH and COPY are refused with a message and change nothing", () =>
    Effect.gen(function*() {
      const file = tempDb()
      yield* withStore(file, (store) => store.createRun(run("a", "a")))
      const before = sha(file)
      const dir = dirname(file)
      const refused = [
        ["DROP TABLE runs", "statement 1 would write"],
        ["SELECT 1; DELETE FROM runs", "statement 2 would write"],
        ["UPDATE runs SET name = 'x'", "statement 1 would write"],
        [`ATTACH '${join(dir, "new.duckdb")}' AS other`, "statement 1 would write"],
        [`COPY runs TO '${join(dir, "runs.csv")}'`, "statement 1 would write"],
        ["CREATE TABLE sneaky (i INTEGER)", "statement 1 would write"]
      ]
      for (const [sql, which] of refused) {
        const e = yield* Effect.flip(withStore(file, (store) => store.query(sql!)))
        assert.strictEqual(e._tag, "StoreError")
        assert.include(e.message, `odpo query reads only, and ${which}`, sql)
        assert.include(e.message, "nothing was changed. Pass --write to change the database on purpose")
      }
      assert.strictEqual(sha(file), before)
      assert.deepStrictEqual(readdirSync(dir), ["odpo.duckdb"]) // no attached file, no CSV, no snapshot left
      const empty = yield* Effect.flip(withStore(file, (store) => store.query("  -- nothing\n ; ")))
      assert.include(empty.message, "the SQL is empty")
      const written = yield* withStore(file, (store) => store.query("UPDATE runs SET name = 'b'; SELECT name FROM runs", { write: true }))
      assert.deepStrictEqual(written.rows, [["b"]])
    }))

  it.effect("a read command on a missing file or a directory says so and creates nothing", () =>
    Effect.gen(function*() {
      const file = tempDb("typo.duckdb")
      const missing = yield* Effect.flip(Effect.provide(Effect.asVoid(RunStore), RunStore.layer(file, { create: false })))
      assert.strictEqual(missing.message, `no run store at ${file}: check --db (\`odpo run\` creates one)`)
      assert.isFalse(existsSync(dirname(file)))
      const dir = mkdtempSync(join(tmpdir(), "odpo-store-"))
      const isDir = yield* Effect.flip(Effect.provide(Effect.asVoid(RunStore), RunStore.layer(dir, { create: false })))
      assert.include(isDir.message, "is a directory, not a run store")
    }))

  it.effect("a truncated file is a StoreError that says so, names the file and what to do", () =>
    Effect.gen(function*() {
      const file = tempDb()
      yield* withStore(file, (store) => store.createRun(run("a", "a")))
      const bytes = readFileSync(file)
      // Cut inside the first data block: past the headers, before the catalog (wherever the tables put it).
      writeFileSync(file, bytes.subarray(0, 16384))
      for (const op of [(s: RunStore["Service"]) => s.createRun(run("b", "b")), (s: RunStore["Service"]) => s.query("SELECT 1")]) {
        const e = yield* Effect.flip(withStore(file, op))
        assert.strictEqual(e._tag, "StoreError")
        assert.include(e.message, `the run store ${file} is truncated or corrupt, so no run can read or write it: restore it from a copy, or use another --db`)
      }
    }))

  it.effect("opening a file at the current version writes nothing; a version-1 file migrates", () =>
    Effect.gen(function*() {
      const current = tempDb()
      yield* withStore(current, (store) => store.createRun(run("a", "a")))
      const before = sha(current)
      const at = yield* Effect.scoped(Effect.flatMap(connect(current, "write", 1000), (conn) => migrate(conn, current)))
      assert.strictEqual(at, currentVersion)
      assert.strictEqual(sha(current), before)
      const versions = yield* withStore(current, (store) => store.query("SELECT version, name FROM schema_version ORDER BY version"))
      assert.deepStrictEqual(versions.rows, migrations.map((m) => [m.version, m.name]))

      const old = tempDb()
      yield* withStore(old, () => Effect.void) // creates the directory
      yield* Effect.scoped(Effect.gen(function*() {
        const conn = yield* connect(old, "write", 1000)
        assert.strictEqual(yield* migrate(conn, old, 1), 1)
        yield* exec(conn, "INSERT INTO rounds VALUES ('r', 0, 'c', 'c', NULL, 'started', now(), NULL)")
        yield* exec(conn, "INSERT INTO pairs VALUES ('q', 'r', 1, 'p', 'x', 'y', 0.5, 'max_min', -1, -2)")
      }))
      // a pair written before migration 4 reads back as not flipped
      assert.deepStrictEqual((yield* withStore(old, (store) => store.readPairs("r", 1))).map((p) => [p.pairId, p.flipped]), [["q", false]])
      const migrated = yield* withStore(old, (store) =>
        Effect.all([store.query("SELECT version FROM schema_version ORDER BY version"), store.query("SELECT run_id, round, stage FROM round_summary")]))
      assert.deepStrictEqual(migrated[0].rows, migrations.map((m) => [m.version]))
      assert.deepStrictEqual(migrated[1].rows, [["r", 0, "started"]])

      yield* withStore(old, (store) => store.query("INSERT INTO schema_version (version, name) VALUES (99, 'future')", { write: true }))
      const newer = yield* Effect.flip(withStore(old, (store) => store.setRunStatus("r", "finished")))
      assert.include(newer.message, `schema version 99, newer than this odpo knows (${currentVersion}): upgrade odpo`)
    }))

  // Two real processes: the child holds DuckDB's lock on the file (write: as a run writing a stage
  // does; read: as a reader of the file does) until the test closes its stdin.
  const holdInChild = (file: string, mode: "write" | "read" = "write") =>
    Effect.acquireRelease(
      Effect.promise(() =>
        new Promise<{ pid: number; release: () => void; exited: Promise<void> }>((resolve, reject) => {
          const child = spawn(process.execPath, [fixture, file, mode], { stdio: ["pipe", "pipe", "inherit"] })
          const exited = new Promise<void>((done) => child.on("exit", () => done()))
          child.stdout.on("data", (d: Buffer) => {
            if (String(d).includes("held")) resolve({ pid: child.pid!, release: () => child.stdin.end(), exited })
          })
          child.on("exit", (code) => reject(new Error(`hold-store fixture exited early (${code})`)))
        })),
      (h) => Effect.promise(() => (h.release(), h.exited))
    )

  it.live("waits for another process's lock, then reads; fails with StoreLocked naming the PID after lockTimeoutMs", () =>
    Effect.gen(function*() {
      const file = tempDb()
      yield* withStore(file, (store) => store.createRun(run("a", "a")))

      yield* Effect.scoped(Effect.gen(function*() {
        const holder = yield* holdInChild(file)
        const reading = yield* Effect.forkChild(withStore(file, (store) => store.query("SELECT name FROM runs"), 600_000))
        // Still waiting while the child holds the lock (a slower machine only waits longer) …
        yield* Effect.sleep(300)
        assert.isUndefined(reading.pollUnsafe())
        // … and reads once it lets go.
        holder.release()
        const r = yield* Fiber.join(reading)
        assert.deepStrictEqual(r.rows, [["a"]])
      }))

      yield* Effect.scoped(Effect.gen(function*() {
        const holder = yield* holdInChild(file)
        const err = yield* Effect.flip(withStore(file, (store) => store.query("SELECT 1"), 300))
        assert.strictEqual(err._tag, "StoreLocked")
        assert.include(err.message, `PID ${holder.pid}`)
        assert.include(err.message, "Retry when that run finishes its stage")
      }))
    }))
})
