// Test helper: run the real `odpo` command in a child process (node + tsx, as `pnpm odpo` does).
import { assert } from "@effect/vitest"
import { RunStore } from "@odpo/core"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, rmSync } from "node:fs"
import { join, resolve } from "node:path"
import { storeLayer } from "../src/Services.ts"

export const repoRoot = resolve(import.meta.dirname, "../../..")

export const spawnOdpo = (args: ReadonlyArray<string>, env: Record<string, string> = {}): ChildProcess =>
  spawn(process.execPath, ["--import", "tsx", "--import", "./scripts/node20-polyfills.mjs", "packages/cli/src/bin.ts", ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export const exited = (child: ChildProcess) =>
  new Promise<Exit>((done) => {
    let stdout = ""
    let stderr = ""
    child.stdout?.on("data", (d) => (stdout += String(d)))
    child.stderr?.on("data", (d) => (stderr += String(d)))
    child.on("exit", (code, signal) => done({ code, signal, stdout, stderr }))
  })

export const odpo = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => exited(spawnOdpo(args, env))

/** Run until the process pauses before recording `stage` of `round` (CrashPoint.ts), then SIGKILL it. */
export const killBeforeRecording = async (args: ReadonlyArray<string>, at: string, dir: string) => {
  const marker = join(dir, `paused-${at.replace(":", "-")}`)
  const child = spawnOdpo(args, { ODPO_PAUSE_BEFORE_RECORD: at, ODPO_PAUSE_MARKER: marker })
  const exit = exited(child)
  // Wait on events (the marker, or the process's exit), never on a wall-clock guess: under load a stage takes minutes.
  while (!existsSync(marker)) {
    if (child.exitCode !== null) throw new Error(`odpo exited before pausing at ${at}: ${(await exit).stderr}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill("SIGKILL")
  const result = await exit
  assert.strictEqual(result.signal, "SIGKILL")
  rmSync(marker)
}

/** The one run a database holds. */
export const runOnly = (db: string) =>
  Effect.gen(function*() {
    const runs = yield* (yield* RunStore.RunStore).listRuns()
    assert.strictEqual(runs.length, 1)
    return runs[0]!
  }).pipe(Effect.provide(storeLayer(db)))
