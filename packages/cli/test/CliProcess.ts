// Test helper: run the real `odpo` command in a child process (node + tsx, as `pnpm odpo` does).
import { type ChildProcess, spawn } from "node:child_process"
import { resolve } from "node:path"

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
