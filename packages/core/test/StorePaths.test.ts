// Migration 8: checkpoint paths are recorded relative to the database's folder, so a runs folder
// can be moved or copied; an older database's absolute paths under its folder are rewritten on open.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, renameSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect, exec } from "../src/internal/store/connection.ts"
import { migrate } from "../src/internal/store/migrations.ts"
import { RunStore } from "../src/RunStore.ts"

const withStore = <A, E>(file: string, body: (store: RunStore["Service"]) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    return yield* body(yield* RunStore)
  }).pipe(Effect.provide(RunStore.layer(file)))

const rawPaths = (file: string) =>
  withStore(file, (store) => Effect.map(store.query("SELECT ckpt_id, path FROM checkpoints ORDER BY ckpt_id"), (r) => r.rows))

describe("RunStore paths", () => {
  it.effect("a checkpoint under the database's folder is recorded relative to it, one elsewhere stays absolute", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-paths-"))
      const file = join(dir, "runs", "odpo.duckdb")
      const outside = join(dir, "elsewhere", "c9")
      yield* withStore(file, (store) =>
        store.recordStage({
          runId: "r", round: 0, stage: "started", checkpoints: [
            { ckptId: "c1", path: join(dir, "runs", "checkpoints", "c1"), parent: null, runId: "r", round: 0, nParams: 10 },
            { ckptId: "c9", path: outside, parent: null, runId: "r", round: 0, nParams: 10 }
          ]
        }))
      assert.deepStrictEqual(yield* rawPaths(file), [["c1", join("checkpoints", "c1")], ["c9", outside]])
      // moved: the relative path follows the folder, the absolute one does not move
      renameSync(join(dir, "runs"), join(dir, "moved"))
      const moved = join(dir, "moved", "odpo.duckdb")
      const [c1, c9] = yield* withStore(moved, (store) => Effect.all([store.readCheckpoint("c1"), store.readCheckpoint("c9")]))
      assert.strictEqual(c1!.path, join(dir, "moved", "checkpoints", "c1"))
      assert.strictEqual(c9!.path, outside)
      assert.strictEqual(yield* withStore(moved, (store) => Effect.succeed(store.storePath(join(dir, "moved", "checkpoints")))), "checkpoints")
    }))

  it.effect("a version-7 database with absolute paths opens: paths under its folder become relative, then it can move", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-paths-old-"))
      const folder = join(dir, "A")
      mkdirSync(folder)
      const file = join(folder, "a.duckdb")
      yield* Effect.scoped(Effect.gen(function*() {
        const conn = yield* connect(file, "write", 1000)
        assert.strictEqual(yield* migrate(conn, file, 7), 7)
        yield* exec(conn, `INSERT INTO runs VALUES ('r', 'old', 'x', $1, 1, 'online', 'sigmoid', 0.1, 'failed', now(), 'test', 'cpu', 'cpu')`,
          [JSON.stringify({ name: "old", checkpointRoot: join(folder, "checkpoints") })])
        yield* exec(conn, `INSERT INTO checkpoints VALUES ('c1', $1, NULL, 'r', 0, 5), ('c2', '/opt/weights/c2', 'c1', 'r', 1, 5), ('c3', $2, NULL, 'r', 0, 5)`,
          [join(folder, "checkpoints", "c1"), join(dir, "A-other", "c3")])
      }))
      const [run, paths] = yield* withStore(file, (store) => Effect.all([store.getRun("r"), rawPaths(file)]))
      assert.strictEqual((run.config as { checkpointRoot: string }).checkpointRoot, "checkpoints")
      assert.deepStrictEqual(paths, [["c1", join("checkpoints", "c1")], ["c2", "/opt/weights/c2"], ["c3", join(dir, "A-other", "c3")]])
      renameSync(folder, join(dir, "B"))
      const c1 = yield* withStore(join(dir, "B", "a.duckdb"), (store) => store.readCheckpoint("c1"))
      assert.strictEqual(c1!.path, join(dir, "B", "checkpoints", "c1"))
    }))
})
