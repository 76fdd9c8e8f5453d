/**
 * `pnpm bench`: runs every benchmark module under bench/ (each default-exports a function that
 * returns its figures) and writes them to bench/results.json and bench/RESULTS.md.
 * Figures are ratios against the same work done another way on the same machine where possible:
 * absolute times vary from run to run.
 */
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import "../scripts/node20-polyfills.mjs"

export interface BenchFigure {
  readonly name: string
  readonly value: number
  readonly unit: string
  readonly note?: string
}
export type Bench = () => Promise<ReadonlyArray<BenchFigure>>

const here = dirname(fileURLToPath(import.meta.url))
const only = process.argv.slice(2)

tf.env().set("PROD", true)
await tf.setBackend("cpu")

const modules = readdirSync(here)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()

const results: Array<BenchFigure & { bench: string }> = []
for (const file of modules) {
  const name = basename(file, ".bench.ts")
  console.log(`bench ${name} …`)
  const mod = (await import(join(here, file))) as { default: Bench }
  for (const fig of await mod.default()) {
    results.push({ bench: name, ...fig })
    console.log(`  ${fig.name}: ${fig.value.toPrecision(4)} ${fig.unit}${fig.note ? `  (${fig.note})` : ""}`)
  }
}

// A partial run (`pnpm bench sampler`) replaces only its own benches' figures.
const resultsFile = join(here, "results.json")
const ran = new Set(results.map((r) => r.bench))
if (existsSync(resultsFile)) {
  const previous = JSON.parse(readFileSync(resultsFile, "utf8")) as { results: typeof results }
  results.unshift(...previous.results.filter((r) => !ran.has(r.bench)))
  results.sort((a, b) => a.bench.localeCompare(b.bench))
}

const meta = { date: new Date().toISOString(), node: process.version, backend: tf.getBackend(), cores: (await import("node:os")).cpus().length }
writeFileSync(resultsFile, JSON.stringify({ meta, results }, null, 2) + "\n")
const md = [
  `# Benchmark results`,
  ``,
  `${meta.date} · Node ${meta.node} · tfjs backend ${meta.backend} · ${meta.cores} cores`,
  ``,
  `| bench | figure | value | unit | note |`,
  `|---|---|---|---|---|`,
  ...results.map((r) => `| ${r.bench} | ${r.name} | ${r.value.toPrecision(4)} | ${r.unit} | ${r.note ?? ""} |`)
]
writeFileSync(join(here, "RESULTS.md"), md.join("\n") + "\n")
console.log(`wrote bench/results.json and bench/RESULTS.md (${results.length} figures)`)
