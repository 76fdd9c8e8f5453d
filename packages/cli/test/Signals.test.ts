// The real `odpo` command stops when told to, and never outlives its launcher: Ctrl-C (SIGINT) says
// where the run stopped and how to resume (exit 130); `kill -9` of the `npx` a user sees stops the
// worker under it (no orphan that finishes the run alone).
import { assert, describe, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { storeLayer } from "../src/Services.ts"
import { exited, repoRoot } from "./CliProcess.ts"

const config = join(import.meta.dirname, "fixtures/tiny-bandit.json")

/** Wait for `cond`, failing after `seconds` (a bound on a hung process, not a speed check). */
const waitFor = async (cond: () => boolean, what: string, seconds: number, child?: ChildProcess) => {
  const deadline = Date.now() + seconds * 1000
  while (!cond()) {
    if (child && child.exitCode !== null) throw new Error(`the command exited (code ${child.exitCode}) before ${what}`)
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return !/^\S+ \(.*\) [ZX]/.test(stat)
  } catch {
    return false
  }
}

const roundsOf = (db: string) =>
  Effect.runPromise(Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const [run] = yield* store.listRuns()
    return (yield* store.listRounds(run!.runId)).map((r) => `${r.round}:${r.stage}`)
  }).pipe(Effect.provide(storeLayer(db))))

/** Start `command` paused before recording `at`; returns the child and the worker's pid (from the marker). */
const startPaused = async (command: string, args: ReadonlyArray<string>, at: string, dir: string) => {
  const marker = join(dir, "paused")
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { ...process.env, ODPO_PAUSE_BEFORE_RECORD: at, ODPO_PAUSE_MARKER: marker },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const exit = exited(child)
  await waitFor(() => existsSync(marker) && readFileSync(marker, "utf8").trim() !== "", `the run to reach ${at}`, 240, child)
  return { child, exit, worker: Number(readFileSync(marker, "utf8").trim()) }
}

describe.skipIf(process.platform !== "linux")("odpo and signals", () => {
  it("Ctrl-C (SIGINT) exits 130 with where the run stopped and the resume command; nothing of that stage is recorded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-sigint-"))
    const db = join(dir, "runs.duckdb")
    const { exit, worker } = await startPaused(process.execPath, ["packages/cli/bin/odpo.js", "run", config, "--db", db], "1:train", dir)
    process.kill(worker, "SIGINT")
    const result = await exit
    assert.strictEqual(result.code, 130, result.stderr)
    assert.match(result.stderr, /odpo: interrupted in round 1, stage train: `odpo resume tiny-\S+ --db \S+runs\.duckdb`/)
    assert.deepStrictEqual(await roundsOf(db), ["0:eval", "1:pairs"])
  })

  it("resuming a run still running in another process is refused, writing nothing; after that process is killed -9 the resume goes on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-twice-"))
    const db = join(dir, "runs.duckdb")
    const { child, exit, worker } = await startPaused(process.execPath, ["packages/cli/bin/odpo.js", "run", config, "--db", db], "1:train", dir)
    const before = createHash("sha256").update(readFileSync(db)).digest("hex")
    const second = await exited(spawn(process.execPath, ["packages/cli/bin/odpo.js", "resume", "tiny", "--db", db], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] }))
    assert.strictEqual(second.code, 1, second.stderr)
    assert.match(second.stderr, new RegExp(`odpo: run tiny-\\S+ is still running in process ${worker}: two processes would compute the same stages`))
    assert.strictEqual(createHash("sha256").update(readFileSync(db)).digest("hex"), before, "the refused resume wrote to the database")
    child.kill("SIGKILL")
    await exit
    const third = await exited(spawn(process.execPath, ["packages/cli/bin/odpo.js", "resume", "tiny", "--db", db], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] }))
    assert.strictEqual(third.code, 0, third.stderr)
    assert.deepStrictEqual((await roundsOf(db)).at(-1), "2:eval")
  })

  it("kill -9 of the npx process (npx → pnpm → sh → node) stops the worker too", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-orphan-"))
    const db = join(dir, "runs.duckdb")
    const npx = await startPaused("npx", ["-y", "pnpm@12.4.2", "odpo", "run", config, "--db", db], "1:rollouts", dir)
    assert.notStrictEqual(npx.worker, npx.child.pid) // the worker is a descendant, not the process we hold
    npx.child.kill("SIGKILL")
    await npx.exit
    await waitFor(() => !alive(npx.worker), "the worker to stop after its launcher was killed", 60)
    assert.deepStrictEqual(await roundsOf(db), ["0:eval", "1:started"]) // the paused stage was never recorded
  })
})

describe.skipIf(process.platform !== "linux")("odpo train-rm and signals", () => {
  // A reward model of many short steps: the signal lands in the middle of training.
  const rmConfig = (dir: string) => {
    const file = join(dir, "rm.json")
    writeFileSync(file, JSON.stringify({
      task: { name: "sentiment" }, pairs: 200, model: { contextLength: 80, dModel: 16, nLayers: 1, nHeads: 2 },
      steps: 100_000, batchSize: 4, out: join(dir, "rm", "model.onnx")
    }))
    return file
  }

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal} in the middle of training stops it: exit 130, says nothing was written, writes no model`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "odpo-rm-signal-"))
      const child = spawn(process.execPath, ["packages/cli/bin/odpo.js", "train-rm", rmConfig(dir), "--backend", "cpu"], {
        cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"]
      })
      const exit = exited(child)
      let stderr = ""
      child.stderr!.on("data", (d) => (stderr += String(d)))
      await waitFor(() => /reward model .* ([1-9]\d*)\/100000 steps/.test(stderr), "training to begin", 240, child)
      child.kill(signal)
      // the bound is on a hung process (before the fix it trained on for minutes), not a speed check
      const stopped = await Promise.race([exit, new Promise<null>((r) => setTimeout(() => r(null), 60_000))])
      if (stopped === null) child.kill("SIGKILL")
      assert.isNotNull(stopped, `train-rm was still training 60 s after ${signal}`)
      assert.strictEqual(stopped!.code, 130, stopped!.stderr)
      assert.match(stopped!.stderr, /odpo: interrupted: no reward model was written \(\S+model\.onnx is written when training ends\)/)
      assert.isFalse(existsSync(join(dir, "rm", "model.onnx")))
    })
  }
})
