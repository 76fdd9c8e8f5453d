// `odpo run … --backend webgpu` end to end in real processes (llvmpipe where there is no GPU): two
// rounds, the runs row names the adapter; the same seed gives the same rows, killed and resumed too.
import { assert, it } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describeWebGpu, webgpuAdapter } from "../../model/test/WebGpuAvailable.ts"
import { storeLayer } from "../src/Services.ts"
import { exited, repoRoot } from "./CliProcess.ts"
import { dumpRun } from "./Tables.ts"

const config = join(import.meta.dirname, "fixtures/tiny-bandit.json")

/** The real command (bin/odpo.js and its bundle), as a user runs it. */
const odpo = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  spawn(process.execPath, ["packages/cli/bin/odpo.js", ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })

const onlyRun = (db: string) =>
  Effect.runPromise(Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const runs = yield* store.listRuns()
    assert.strictEqual(runs.length, 1)
    return { run: runs[0]!, rows: yield* dumpRun(runs[0]!.runId) }
  }).pipe(Effect.provide(storeLayer(db))))

describeWebGpu("odpo run --backend webgpu", () => {
  it("two rounds finish; the runs row and the output name the adapter; the same seed gives the same rows, also killed and resumed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "odpo-webgpu-run-"))
    const first = await exited(odpo(["run", config, "--db", join(dir, "a.duckdb"), "--backend", "webgpu"]))
    assert.strictEqual(first.code, 0, first.stderr)
    assert.match(first.stderr, new RegExp(`backend: webgpu on ${webgpuAdapter!.device.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`))
    if (webgpuAdapter!.software) assert.match(first.stderr, /warning: webgpu runs on a software adapter/)
    const a = await onlyRun(join(dir, "a.duckdb"))
    assert.strictEqual(a.run.status, "finished")
    assert.strictEqual(a.run.backend, "webgpu")
    assert.include(a.run.device ?? "", webgpuAdapter!.device)
    assert.strictEqual(a.rows["evals"]!.length, 3) // rounds 0, 1, 2

    const second = await exited(odpo(["run", config, "--db", join(dir, "b.duckdb"), "--backend", "webgpu"]))
    assert.strictEqual(second.code, 0, second.stderr)
    assert.deepStrictEqual((await onlyRun(join(dir, "b.duckdb"))).rows, a.rows)

    // killed before training round 1 is recorded, then resumed (on the backend the run recorded)
    const crashed = join(dir, "c.duckdb")
    const marker = join(dir, "paused")
    const child = odpo(["run", config, "--db", crashed, "--backend", "webgpu"], { ODPO_PAUSE_BEFORE_RECORD: "1:train", ODPO_PAUSE_MARKER: marker })
    const killed = exited(child)
    const deadline = Date.now() + 240_000
    while (!(existsSync(marker) && readFileSync(marker, "utf8").trim() !== "")) {
      if (child.exitCode !== null) throw new Error(`odpo exited before pausing: ${(await killed).stderr}`)
      if (Date.now() > deadline) throw new Error("odpo never reached 1:train")
      await new Promise((r) => setTimeout(r, 100))
    }
    child.kill("SIGKILL")
    await killed
    const c = await onlyRun(crashed)
    const resumed = await exited(odpo(["resume", c.run.runId, "--db", crashed]))
    assert.strictEqual(resumed.code, 0, resumed.stderr)
    assert.match(resumed.stderr, /backend: webgpu on /)
    assert.deepStrictEqual((await onlyRun(crashed)).rows, a.rows)
  })
})
