import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { existsSync, mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { exited, odpo, spawnOdpo } from "./CliProcess.ts"

const until = async (ok: () => boolean, what: string, child: { exitCode: number | null }) => {
  while (!ok()) {
    if (child.exitCode !== null) throw new Error(`the reader exited (${child.exitCode}) before ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const runRow = (runId: string): RunStore.RunRow => ({
  runId, name: runId, experiment: "bandit", config: {}, seed: 0, pairSource: "online", loss: "sigmoid", beta: 0.1,
  status: "running", createdAt: new Date().toISOString(), codeVersion: "test", backend: null, device: null
})

describe("a long read in another terminal", () => {
  it("never holds up a run's writes: the reader queries a snapshot, and Ctrl-C stops it and removes the snapshot", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-longread-"))
    const db = join(dir, "odpo.duckdb")
    // The writer waits at most 5 s for the lock (a run waits 30 s); the reader's query runs until the test stops it.
    const lockTimeoutMs = 5000
    const write = (body: (store: RunStore.RunStore["Service"]) => Effect.Effect<void, unknown>) =>
      Effect.runPromise(Effect.gen(function*() {
        yield* body(yield* RunStore.RunStore)
      }).pipe(Effect.provide(RunStore.RunStore.layer(db, { lockTimeoutMs }))))
    await write((s) => s.createRun(runRow("first")))

    const reader = spawnOdpo(["query", "SELECT sum(hash(i)) FROM range(1000000000000) t(i)", "--db", db])
    const readerExit = exited(reader)
    const snapshots = () => readdirSync(dir).filter((f) => f.includes(".snapshot-"))
    await until(() => snapshots().length > 0, "it took its snapshot", reader)

    // Stage-like writes while the reader works, spread over more than the writer's lock retry.
    await write((s) => s.createRun(runRow("second")))
    await new Promise((r) => setTimeout(r, lockTimeoutMs + 500))
    await write((s) => s.recordStage({ runId: "second", round: 0, stage: "started" }))
    await write((s) => s.setRunStatus("second", "finished"))
    assert.strictEqual(reader.exitCode, null, "the reader should still be reading")

    reader.kill("SIGINT")
    const r = await readerExit
    assert.notStrictEqual(r.code, 0)
    assert.deepStrictEqual(snapshots(), [], "the interrupted reader left its snapshot behind")
    const q = await odpo(["query", "SELECT run_id, status FROM runs ORDER BY run_id", "--db", db, "--format", "csv"])
    assert.strictEqual(q.code, 0, q.stderr)
    assert.strictEqual(q.stdout.trim(), "run_id,status\nfirst,running\nsecond,finished")
    assert.isFalse(existsSync(join(dir, "other.duckdb")))
  })

  it("odpo query refuses writes unless --write; a typo'd --db, empty SQL and a directory say what is wrong", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-guard-"))
    const db = join(dir, "odpo.duckdb")
    await Effect.runPromise(Effect.gen(function*() {
      yield* (yield* RunStore.RunStore).createRun(runRow("kept"))
    }).pipe(Effect.provide(RunStore.RunStore.layer(db))))
    const [drop, typo, empty, isDir, compare] = await Promise.all([
      odpo(["query", "DROP TABLE runs", "--db", db]),
      odpo(["query", "SELECT 1", "--db", join(dir, "odpo.duckbd")]),
      odpo(["query", "  ", "--db", db]),
      odpo(["query", "SELECT 1", "--db", dir]),
      odpo(["compare", "kept", "--db", join(dir, "typo.duckdb")])
    ])
    assert.strictEqual(drop.code, 1)
    assert.strictEqual(drop.stderr.trim(), "odpo: odpo query reads only, and statement 1 would write: nothing was changed. Pass --write to change the database on purpose")
    assert.strictEqual(typo.code, 1)
    assert.strictEqual(typo.stderr.trim(), `odpo: no run store at ${join(dir, "odpo.duckbd")}: check --db (\`odpo run\` creates one)`)
    assert.isFalse(existsSync(join(dir, "odpo.duckbd")))
    assert.strictEqual(compare.code, 1)
    assert.isFalse(existsSync(join(dir, "typo.duckdb")))
    assert.strictEqual(empty.code, 1)
    assert.include(empty.stderr, "the SQL is empty")
    assert.strictEqual(isDir.code, 1)
    assert.include(isDir.stderr, "is a directory, not a run store")
    const written = await odpo(["query", "UPDATE runs SET status = 'failed'; SELECT status FROM runs", "--db", db, "--write", "--format", "csv"])
    assert.strictEqual(written.code, 0, written.stderr)
    assert.strictEqual(written.stdout.trim(), "status\nfailed")
  })
})
