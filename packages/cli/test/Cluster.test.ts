// Sampling and scoring on Effect Cluster: 3 `odpo worker` processes on the loopback, PostgreSQL
// as shard and message storage, one worker killed (kill -9) in the middle of a round-1 shard. The
// shard is delivered again to another runner and the run's rows hash equal to a one-process run's.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { storeLayer } from "../src/Services.ts"
import { exited, repoRoot, runOnly } from "./CliProcess.ts"
import { postgresInstalled, startPostgres, startWorker, stopWorkers, type Worker } from "./ClusterProcess.ts"
import { dumpRun } from "./Tables.ts"

const fixture = join(import.meta.dirname, "fixtures/tiny-bandit.json")
const odpo = (args: ReadonlyArray<string>) =>
  spawn(process.execPath, ["packages/cli/bin/odpo.js", ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] })

/** SHA-256 of each table of the run in `db` (rows normalised as Tables.ts does). */
const tableHashes = (db: string) =>
  Effect.gen(function*() {
    const run = yield* runOnly(db)
    const tables = yield* dumpRun(run.runId).pipe(Effect.provide(storeLayer(db)))
    return Object.fromEntries(Object.entries(tables).map(([t, rows]) => [t, { rows: rows.length, sha256: createHash("sha256").update(JSON.stringify(rows)).digest("hex") }]))
  })

// CI (CI=true) installs PostgreSQL (.ci/run) and must run this; elsewhere a machine without it skips, saying so.
const runnable = postgresInstalled() || process.env.CI === "true"
if (!runnable) console.warn("Cluster.test.ts skipped: no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)")

describe.skipIf(!runnable)("odpo run --cluster with 3 odpo workers", () => {
  it.live("a worker killed mid-shard: its shard is delivered again, and every table hashes equal to a one-process run's", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-cluster-"))
      const pg = yield* Effect.acquireRelease(Effect.promise(startPostgres), (pg) => Effect.sync(pg.stop))
      const marker = join(dir, "paused")
      // tiny-bandit with one round after round 0: the kill lands in round 1, and the suite's time stays small.
      const config = join(dir, "tiny-bandit-1.json")
      writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(fixture, "utf8")), rounds: 1 }))
      const workers: Array<Worker> = []
      yield* Effect.addFinalizer(() => Effect.promise(() => stopWorkers(workers)))
      // The one-process run, while the workers start (each waits until it listens).
      const clean = join(dir, "one.duckdb")
      const reference = exited(odpo(["run", config, "--db", clean, "--backend", "cpu"]))
      workers.push(...yield* Effect.promise(() =>
        Promise.all([
          startWorker(pg.url, ["--backend", "cpu"], { ODPO_WORKER_PAUSE: "round 1 ·", ODPO_PAUSE_MARKER: marker }),
          startWorker(pg.url, ["--backend", "cpu"]),
          startWorker(pg.url, ["--backend", "cpu"])
        ])))
      const one = yield* Effect.promise(() => reference)
      assert.strictEqual(one.code, 0, one.stderr)

      const clustered = join(dir, "cluster.duckdb")
      const coordinator = odpo(["run", config, "--db", clustered, "--backend", "cpu", "--cluster", pg.url, "--shards", "6"])
      const done = exited(coordinator)
      // The victim takes a round-1 shard and stops answering: kill -9 it there.
      yield* Effect.promise(async () => {
        while (!existsSync(marker)) {
          if (coordinator.exitCode !== null) throw new Error(`the coordinator exited before a worker took a round-1 shard: ${(await done).stderr}`)
          await new Promise((r) => setTimeout(r, 100))
        }
      })
      const victim = workers[0]!
      const taken = (w: Worker) => w.log().split("\n").flatMap((l) => /^worker [\d.:]+: (round \d+ · .+ \[\d+\/\d+\])$/.exec(l)?.[1] ?? [])
      const shard = taken(victim).find((s) => s.startsWith("round 1 ·"))
      assert.isDefined(shard, victim.log())
      victim.child.kill("SIGKILL")
      const result = yield* Effect.promise(() => done)
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(victim.child.signalCode, "SIGKILL")
      // The shard the victim held was answered by one of the two others.
      assert.isTrue(workers.slice(1).some((w) => taken(w).includes(shard!)), `no other worker took ${shard}`)
      assert.match(result.stderr, /sampling and scoring on the cluster/)

      const a = yield* tableHashes(clean)
      const b = yield* tableHashes(clustered)
      for (const table of ["rollouts", "scores", "pairs", "train_steps", "evals", "checkpoints"]) assert.isAbove(a[table]!.rows, 0, table)
      assert.deepStrictEqual(b, a)
      // The run's rollout count: 1 round × 4 prompts × 4 samples, plus 2 evaluations × 4 prompts × 2 samples × (policy, reference).
      assert.strictEqual(a.rollouts!.rows, 1 * 4 * 4 + 2 * 4 * 2 * 2)
      assert.isFalse(readFileSync(marker, "utf8").trim() === "")

    }).pipe(Effect.scoped))
})

describe("odpo run --cluster and odpo worker with a bad cluster", () => {
  it.live("a URL that is not PostgreSQL's, and a PostgreSQL nobody listens at: one line naming it, exit 1", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "odpo-cluster-bad-"))
      const [notPg, nobody] = yield* Effect.promise(() =>
        Promise.all([
          exited(odpo(["run", fixture, "--db", join(dir, "a.duckdb"), "--backend", "cpu", "--cluster", "http://127.0.0.1:5432"])),
          exited(odpo(["worker", "--cluster", "postgres://odpo@127.0.0.1:1/postgres", "--backend", "cpu", "--port", "0"]))
        ]))
      assert.strictEqual(notPg.code, 1, notPg.stderr)
      assert.include(notPg.stderr, "odpo: --cluster http://127.0.0.1:5432: not a PostgreSQL URL; give one like postgres://user@127.0.0.1:5432/odpo")
      assert.strictEqual(nobody.code, 1, nobody.stderr)
      assert.match(nobody.stderr, /odpo: cannot use the cluster's PostgreSQL at postgres:\/\/odpo@127\.0\.0\.1:1\/postgres: .*Failed to connect: is it running and reachable from here\?/)
    }))
})
