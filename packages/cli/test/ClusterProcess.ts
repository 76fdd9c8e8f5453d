// Test and bench helper: a throw-away PostgreSQL (scripts/pg-throwaway.sh) and `odpo worker`
// processes on the loopback, as a user starts them on one machine. No test framework here: the
// bench (bench/cluster.bench.ts) uses it too.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const repoRoot = resolve(import.meta.dirname, "../../..")

const script = join(repoRoot, "scripts/pg-throwaway.sh")

/** True when PostgreSQL's server binaries are installed (Debian's `postgresql`). */
export const postgresInstalled = (): boolean =>
  existsSync("/usr/lib/postgresql") && readdirSync("/usr/lib/postgresql").some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))

/** A free TCP port on 127.0.0.1 (the OS's pick, released at once). */
export const freePort = () =>
  new Promise<number>((done, fail) => {
    const s = createServer()
    s.once("error", fail)
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number }
      s.close(() => done(port))
    })
  })

export interface Postgres {
  readonly url: string
  readonly stop: () => void
}

/** A fresh PostgreSQL cluster in a temp directory on 127.0.0.1 (as a non-root user when run as root). */
export const startPostgres = async (): Promise<Postgres> => {
  const dir = mkdtempSync(join(tmpdir(), "odpo-pg-"))
  const port = await freePort()
  const url = execFileSync(script, ["start", dir, String(port)], { encoding: "utf8" }).trim()
  return {
    url,
    stop: () => {
      spawnSync(script, ["stop", dir])
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export interface Worker {
  readonly child: ChildProcess
  readonly port: number
  /** Everything it wrote to stderr so far. */
  readonly log: () => string
}

/** `odpo worker` on 127.0.0.1:port (the bundled CLI, as a user runs it), resolved once it listens. */
export const startWorker = async (url: string, extraArgs: ReadonlyArray<string> = [], env: Record<string, string> = {}): Promise<Worker> => {
  const port = await freePort()
  const child = spawn(process.execPath, ["packages/cli/bin/odpo.js", "worker", "--cluster", url, "--port", String(port), ...extraArgs], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let log = ""
  child.stdout?.on("data", (d) => (log += String(d)))
  child.stderr?.on("data", (d) => (log += String(d)))
  const deadline = Date.now() + 120_000
  while (!log.includes("Listening on")) {
    if (child.exitCode !== null) throw new Error(`odpo worker exited (code ${child.exitCode}) before listening: ${log}`)
    if (Date.now() > deadline) throw new Error(`odpo worker did not start listening: ${log}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return { child, port, log: () => log }
}

/** Stop workers (SIGTERM, then wait for their exit). */
export const stopWorkers = (workers: ReadonlyArray<Worker>) =>
  Promise.all(workers.map((w) =>
    w.child.exitCode !== null || w.child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((done) => {
        w.child.once("exit", () => done())
        w.child.kill("SIGTERM")
      })))
