// A results archive (X.duckdb.gz, what the studies commit) reads like its database — at the
// current schema, its checkpoint paths under its own folder — and is never written.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { connect, exec } from "../src/internal/store/connection.ts"
import { currentVersion, migrate } from "../src/internal/store/migrations.ts"
import { RunStore, writeArchive } from "../src/RunStore.ts"

const withStore = <A, E>(file: string, body: (store: RunStore["Service"]) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    return yield* body(yield* RunStore)
  }).pipe(Effect.provide(RunStore.layer(file, { create: false })))

/** A version-7 database (older than this odpo's) with one run and one checkpoint, archived beside it. */
const oldArchive = Effect.fnUntraced(function*(dir: string) {
  const file = join(dir, "study.duckdb")
  yield* Effect.scoped(Effect.gen(function*() {
    const conn = yield* connect(file, "write", 1000)
    assert.strictEqual(yield* migrate(conn, file, 7), 7)
    yield* exec(conn, `INSERT INTO runs VALUES ('r1', 'arm-s0', 'study', '{"name":"arm-s0"}', 0, 'online', 'sigmoid', 0.1, 'finished', now(), 'test', 'onnx', 'cpu')`)
    yield* exec(conn, `INSERT INTO checkpoints VALUES ('c1', $1, NULL, 'r1', 0, 5)`, [join(dir, "checkpoints", "c1")])
  }))
  const archive = `${file}.gz`
  yield* Effect.promise(() => writeArchive(file, archive))
  return archive
})

describe("results archives", () => {
  it.effect("an archive of an older schema reads at the current one, its paths under its folder, and is left byte-identical", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-archive-test-"))
      const scratch = join(dir, "tmp")
      mkdirSync(scratch)
      process.env.TMPDIR = scratch // where the private copy goes: empty again once the store is closed
      const archive = yield* oldArchive(dir)
      const bytes = readFileSync(archive)
      const [run, ckpt, views, version] = yield* withStore(archive, (store) =>
        Effect.all([
          store.getRun("arm-s0"),
          store.readCheckpoint("c1"),
          Effect.map(store.query("SELECT name FROM latest_runs"), (r) => r.rows),
          Effect.map(store.query("SELECT max(version) FROM schema_version"), (r) => Number(r.rows[0]![0]))
        ]))
      assert.strictEqual(run.runId, "r1")
      assert.strictEqual(ckpt!.path, join(dir, "checkpoints", "c1"))
      assert.deepStrictEqual(views, [["arm-s0"]]) // latest_runs came with migration 8
      assert.strictEqual(version, currentVersion)
      assert.deepStrictEqual(readFileSync(archive), bytes)
      assert.deepStrictEqual(readdirSync(scratch), [])
      // the archive is the database, compressed: gunzip gives a DuckDB file
      assert.strictEqual(gunzipSync(bytes).subarray(8, 12).toString("latin1"), "DUCK")
    }))

  it.effect("anything that would write into an archive is refused, naming it and saying how to add runs", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-archive-write-"))
      const archive = yield* oldArchive(dir)
      const bytes = readFileSync(archive)
      const refused = yield* withStore(archive, (store) =>
        Effect.all([
          Effect.flip(store.setRunStatus("r1", "failed")),
          Effect.flip(store.query("DELETE FROM runs", { write: true }))
        ]))
      for (const e of refused) {
        assert.include(e.message, `${archive} is a compressed results archive`)
        assert.include(e.message, `gunzip -k ${archive}`)
      }
      assert.deepStrictEqual(readFileSync(archive), bytes)
    }))

  it.effect("a .gz that is not a gzip of a database is one error naming the file", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-archive-bad-"))
      const bad = join(dir, "bad.duckdb.gz")
      writeFileSync(bad, "not gzip at all")
      const e = yield* Effect.flip(withStore(bad, (store) => store.listRuns()))
      assert.match(e.message, new RegExp(`^cannot read the results archive ${bad}: `))
      const missing = yield* Effect.flip(withStore(join(dir, "none.duckdb.gz"), (store) => store.listRuns()))
      assert.include(missing.message, `no run store at ${join(dir, "none.duckdb.gz")}`)
    }))
})
