// A run store damaged in a data block (open succeeds, a statement that reaches the block fails)
// gets the same one-line message from every command, and no command leaves a .wal behind.
import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { odpo } from "./CliProcess.ts"

const config = join(import.meta.dirname, "fixtures/tiny-bandit.json")
const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 9, stop: [] }

/** A store with one finished run "tiny" whose evals and 4,000 rollouts fill many data blocks. */
const makeStore = (db: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    yield* store.createRun({
      runId: "tiny-1", name: "tiny", experiment: "test", config: {}, seed: 1, pairSource: "online", loss: "sigmoid", beta: 0.1,
      status: "finished", createdAt: "2025-01-01T00:00:00Z", codeVersion: "test", backend: "cpu", device: "cpu"
    })
    yield* store.recordStage({
      runId: "tiny-1", round: 0, stage: "rollouts",
      prompts: [{ promptId: "p", task: "bandit", split: "train", text: "p", tokenIds: [1] }],
      rollouts: Array.from({ length: 4000 }, (_, i) => ({
        rolloutId: `r${i}`, runId: "tiny-1", round: 0, purpose: "eval" as const, promptId: "p", sampleIdx: i, policyCkpt: "c",
        tokenIds: Array.from({ length: 40 }, (_, t) => (i * 31 + t * 7) % 101), tokenLogprobs: Array.from({ length: 40 }, (_, t) => -((i + t) % 13) / 7),
        logprobSum: -i, length: 40, finishReason: "length" as const, params, seed: i, text: `completion ${i} `.repeat(12)
      })),
      evals: [{ runId: "tiny-1", round: 0, split: "heldout", metrics: { "eval/reward": 0.5, "eval/gold_reward": 0.5 } }]
    })
  }).pipe(Effect.provide(RunStore.RunStore.layer(db)))

describe("a corrupt run store", () => {
  it.live("compare, query, report and run all say it is truncated or corrupt, in one line, and leave no .wal", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-corrupt-"))
      const db = join(dir, "odpo.duckdb")
      yield* makeStore(db)
      // Damage one 256 KiB block of evals and one of rollouts, found by trying each block in turn:
      // the file still opens and its runs table reads, and only statements that reach them fail.
      const clean = readFileSync(db)
      const damaged = (blocks: ReadonlyArray<number>) => {
        const bytes = Buffer.from(clean)
        for (const b of blocks) for (let i = b + 8; i < Math.min(b + 262_144, bytes.length); i++) bytes[i] = (i * 7 + 13) % 256
        return bytes
      }
      const probe = join(dir, "probe.duckdb")
      const reads = (sql: string) => Effect.isSuccess(Effect.gen(function*() {
        return yield* (yield* RunStore.RunStore).query(sql)
      }).pipe(Effect.provide(RunStore.RunStore.layer(probe, { create: false }))))
      const found: Record<string, number> = {}
      for (let b = 12_288; b < clean.length && Object.keys(found).length < 2; b += 262_144) {
        writeFileSync(probe, damaged([b]))
        if (!(yield* reads("SELECT count(*) FROM runs"))) continue
        for (const table of ["evals", "rollouts"]) {
          if (found[table] === undefined && !(yield* reads(`SELECT * FROM ${table}`))) found[table] = b
        }
      }
      assert.deepStrictEqual(Object.keys(found).sort(), ["evals", "rollouts"])
      writeFileSync(db, damaged([found.evals!, found.rollouts!]))
      const open = yield* Effect.promise(() => odpo(["query", "SELECT count(*) FROM runs", "--db", db]))
      assert.strictEqual(open.code, 0, `the damage should be past the catalog: ${open.stderr}`)
      const commands = [
        ["compare", "tiny", "--db", db],
        ["query", "SELECT * FROM rollouts", "--db", db, "--format", "csv"],
        ["report", "tiny", "--db", db, "--out", join(dir, "r.html")],
        ["run", config, "--db", db, "--backend", "cpu"]
      ]
      for (const args of commands) {
        const r = yield* Effect.promise(() => odpo(args))
        assert.strictEqual(r.code, 1, `${args[0]}: ${r.stderr}`)
        const lines = r.stderr.split("\n").filter((l) => l.startsWith("odpo: "))
        assert.strictEqual(lines.length, 1, r.stderr)
        assert.include(lines[0]!, `odpo: the run store ${db} is truncated or corrupt, so no run can read or write it: restore it from a copy, or use another --db. DuckDB said: `, args[0])
        assert.notMatch(r.stderr, /FATAL/)
        assert.isFalse(existsSync(`${db}.wal`), `${args[0]} left a .wal`)
      }
    }))
})
