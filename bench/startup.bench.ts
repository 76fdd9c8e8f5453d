/**
 * How long `odpo --help` and `odpo query "SELECT 1"` take to run, start to exit (median of 5): the
 * real bin (packages/cli/bin/odpo.js: the esbuild bundle, heavy packages loaded lazily), the
 * README's `npx -y pnpm@12.4.2 odpo …` (adds npx and pnpm), and transpiling the sources with tsx
 * at every start (what `pnpm odpo` did before the bundle), on the same machine.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import type { BenchFigure } from "./run.ts"

const RUNS = 5

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const seconds = (command: string, args: ReadonlyArray<string>) => {
  const times: Array<number> = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    const r = spawnSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
    if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.status}: ${r.stderr.slice(0, 300)}`)
    times.push((performance.now() - t0) / 1000)
  }
  return median(times)
}

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const bin = resolve("packages/cli/bin/odpo.js")
  if (!existsSync(bin)) {
    console.log("  skipped: no source checkout here (packages/cli/bin/odpo.js)")
    return []
  }
  const db = join(mkdtempSync(join(tmpdir(), "odpo-bench-startup-")), "runs.duckdb")
  const node = process.execPath
  seconds(node, [bin, "--help"]) // builds the bundle if a source changed
  const help = seconds(node, [bin, "--help"])
  const query = seconds(node, [bin, "query", "SELECT 1", "--db", db])
  const npxHelp = seconds("npx", ["-y", "pnpm@12.4.2", "odpo", "--help"])
  const npxQuery = seconds("npx", ["-y", "pnpm@12.4.2", "odpo", "query", "SELECT 1", "--db", db])
  const tsxHelp = seconds(node, ["--import", "tsx", "--import", "./scripts/node20-polyfills.mjs", "packages/cli/src/bin.ts", "--help"])
  const load = `load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`
  return [
    { name: "odpo --help (bin, bundle)", value: help, unit: "s", note: `median of ${RUNS}, start to exit; ${load}` },
    { name: "odpo query \"SELECT 1\" (bin, bundle)", value: query, unit: "s", note: "opens DuckDB" },
    { name: "npx -y pnpm@12.4.2 odpo --help", value: npxHelp, unit: "s", note: "the README's command: npx + pnpm + the bin" },
    { name: "npx -y pnpm@12.4.2 odpo query \"SELECT 1\"", value: npxQuery, unit: "s", note: "" },
    { name: "odpo --help from source (tsx)", value: tsxHelp, unit: "s", note: "transpiled at every start, as before the bundle" },
    { name: "tsx / bundle (--help)", value: tsxHelp / help, unit: "×", note: "same machine, same run" }
  ]
}
