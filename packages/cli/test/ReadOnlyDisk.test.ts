// `odpo query` and `odpo compare` read a run store on a read-only or full disk: the snapshot goes
// to the temporary folder, or the file is read itself. The disks are real mounts, made in a user
// and mount namespace (`unshare -rm`), so the test needs no root; it is skipped where Linux lets
// no one make one.
import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { spawn, spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect, exec } from "../../core/src/internal/store/connection.ts"
import { currentVersion, migrate } from "../../core/src/internal/store/migrations.ts"
import { exited, repoRoot } from "./CliProcess.ts"

const canMount = process.platform === "linux" &&
  spawnSync("unshare", ["--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs tmpfs /mnt 2>/dev/null || mount -t tmpfs tmpfs /tmp"]).status === 0

const shell = (s: string) => `'${s.replaceAll("'", "'\\''")}'`
const odpoLine = (args: ReadonlyArray<string>) => [process.execPath, "packages/cli/bin/odpo.js", ...args].map(shell).join(" ")

/** Run `setup` (mounts) and then odpo with `args`, inside a fresh user and mount namespace. */
const inNamespace = (setup: string, args: ReadonlyArray<string>) =>
  exited(spawn("unshare", ["--user", "--map-root-user", "--mount", "sh", "-c", `${setup} && exec ${odpoLine(args)}`], {
    cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"]
  }))

const readOnly = (dir: string) => `mount --bind ${shell(dir)} ${shell(dir)} && mount -o remount,bind,ro ${shell(dir)}`

const withStore = <A, E>(db: string, body: (store: RunStore.RunStore["Service"]) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.gen(function*() {
    return yield* body(yield* RunStore.RunStore)
  }).pipe(Effect.provide(RunStore.RunStore.layer(db))) as Effect.Effect<A, never>)

const finishedRun = (db: string) =>
  withStore(db, (store) =>
    Effect.gen(function*() {
      yield* store.createRun({
        runId: "ro-1", name: "ro", experiment: "test", config: {}, seed: 1, pairSource: "online", loss: "sigmoid", beta: 0.1,
        status: "finished", createdAt: "2025-01-01T00:00:00Z", codeVersion: "test", backend: "cpu", device: "cpu"
      })
      for (const round of [0, 1]) {
        yield* store.recordStage({ runId: "ro-1", round, stage: "eval", evals: [{ runId: "ro-1", round, split: "heldout", metrics: { "eval/gold_reward": 0.25 + round } }] })
      }
    }))

describe.skipIf(!canMount)("a run store on a read-only or full disk", () => {
  it("query and compare read it on a read-only folder, and on a full one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-ro-"))
    const db = join(dir, "odpo.duckdb")
    await finishedRun(db)
    const query = ["query", "SELECT name, status FROM runs", "--db", db, "--format", "csv"]
    const compare = ["compare", "ro", "--db", db, "--format", "csv"]
    for (const args of [query, compare]) {
      const r = await inNamespace(`${readOnly(dir)} && ! touch ${shell(join(dir, "probe"))} 2>/dev/null`, args)
      assert.strictEqual(r.code, 0, `${args[0]} on a read-only disk: ${r.stderr}`)
      if (args === query) assert.strictEqual(r.stdout.trim(), "name,status\nro,finished")
      else assert.deepStrictEqual(r.stdout.trim().split("\n").slice(1).map((l) => l.split(",").slice(0, 2)), [["0", "ro"], ["1", "ro"]])
    }
    // a disk with no room: a tmpfs just large enough for the file, filled up
    const full = join(dir, "full")
    mkdirSync(full)
    const r = await inNamespace(
      `mount -t tmpfs -o size=16m tmpfs ${shell(full)} && cp ${shell(db)} ${shell(full)}/ && ` +
        `(dd if=/dev/zero of=${shell(join(full, "filler"))} bs=64k 2>/dev/null; true) && ! cp ${shell(db)} ${shell(join(full, "again"))} 2>/dev/null`,
      ["query", "SELECT count(*) AS evals FROM evals", "--db", join(full, "odpo.duckdb"), "--format", "csv"]
    )
    assert.strictEqual(r.code, 0, `query on a full disk: ${r.stderr}`)
    assert.strictEqual(r.stdout.trim(), "evals\n2")
  })

  it("an older database on a read-only disk is read as it is, with a warning", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-ro-old-"))
    const db = join(dir, "odpo.duckdb")
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const conn = yield* connect(db, "write", 1000)
      yield* migrate(conn, db, 7)
      yield* exec(conn, `INSERT INTO runs VALUES ('old-1', 'old', 'x', '{}', 1, 'online', 'sigmoid', 0.1, 'finished', now(), 'test', 'cpu', 'cpu')`)
    })) as Effect.Effect<void, never>)
    const copy = join(dir, "before.duckdb")
    copyFileSync(db, copy)
    const r = await inNamespace(readOnly(dir), ["query", "SELECT max(version) AS v, (SELECT name FROM runs) AS run FROM schema_version", "--db", db, "--format", "csv"])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.strictEqual(r.stdout.trim(), "v,run\n7,old")
    assert.include(r.stderr, `warning: ${db} is at schema version 7 (this odpo writes ${currentVersion}) and cannot be written here: reading it as it is`)
  })
})
