/**
 * `pnpm bench [NAME…] [--backend webgpu] [--repeat N] [--shape reference|gpt2-small|smollm2-135m] [--out DIR] [--render]`: runs the benchmark modules (each
 * default-exports a function that returns its figures) and writes them to bench/results.json and
 * bench/RESULTS.md (or DIR). `--backend webgpu` runs the webgpu bench alone, on any adapter
 * (llvmpipe included); without it the webgpu bench runs only on a hardware adapter. `--repeat N`
 * runs the benches that compare with PyTorch N rounds (engine and peer back to back in each);
 * `pnpm bench onnx` runs the onnx engine against PyTorch at every shape, `--shape` at one.
 * Figures are ratios against the same work done another way on the same machine where possible:
 * absolute times vary from run to run.
 */
import * as tf from "@tensorflow/tfjs-core"
// The model package registers the cpu backend, every gradient and the faster cpu kernels (a bare
// import of @tensorflow/tfjs-backend-cpu is dropped by esbuild: the package marks itself side-effect free).
import "@odpo/model"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import "../scripts/node20-polyfills.mjs"

export interface BenchFigure {
  readonly name: string
  readonly value: number
  readonly unit: string
  readonly note?: string
}
export type Bench = () => Promise<ReadonlyArray<BenchFigure>>

/** Every bench, by name: a static list, so that the CLI bundle (packages/cli/build.mjs) carries them. */
const benches: Record<string, () => Promise<{ default: Bench }>> = {
  adamw: () => import("./adamw.bench.ts"),
  model: () => import("./model.bench.ts"),
  onnx: () => import("./onnx.bench.ts"),
  "onnx-gpt2": () => import("./onnx-gpt2.bench.ts"),
  "onnx-smollm": () => import("./onnx-smollm.bench.ts"),
  optimizer: () => import("./optimizer.bench.ts"),
  profile: () => import("./profile.bench.ts"),
  round: () => import("./round.bench.ts"),
  sampler: () => import("./sampler.bench.ts"),
  scorer: () => import("./scorer.bench.ts"),
  startup: () => import("./startup.bench.ts"),
  cluster: () => import("./cluster.bench.ts"),
  store: () => import("./store.bench.ts"),
  webgpu: () => import("./webgpu.bench.ts")
}

const args = process.argv.slice(2)
const option = (name: string) => {
  const at = args.indexOf(name)
  if (at < 0) return undefined
  const value = args[at + 1]
  args.splice(at, 2)
  return value
}
// --render: run nothing, write RESULTS.md again from results.json (after editing RESULTS-cpu.md)
const render = args.includes("--render")
if (render) args.splice(args.indexOf("--render"), 1)
const backend = option("--backend") ?? "cpu"
const repeat = option("--repeat")
if (repeat !== undefined) {
  if (!/^[1-9][0-9]*$/.test(repeat)) throw new Error(`--repeat ${repeat}: give a whole number of rounds ≥ 1 (pnpm bench onnx --repeat 3)`)
  process.env["ODPO_BENCH_REPEAT"] = repeat
}
if (backend !== "cpu" && backend !== "webgpu") throw new Error(`--backend ${backend}: the bench runs on cpu or webgpu`)
if (backend === "webgpu") process.env["ODPO_BENCH_WEBGPU"] = "any adapter"
// --shape reference | gpt2-small: of the onnx engine's benches against PyTorch, run only that shape's
const shapes: Record<string, string> = { reference: "onnx", "gpt2-small": "onnx-gpt2", "smollm2-135m": "onnx-smollm" }
const shape = option("--shape")
if (shape !== undefined && !(shape in shapes)) throw new Error(`--shape ${shape}: the onnx benches have the shapes ${Object.keys(shapes).join(", ")}`)
const skipped = new Set(shape === undefined ? [] : Object.values(shapes).filter((b) => b !== shapes[shape]))
const here = resolve(option("--out") ?? dirname(fileURLToPath(import.meta.url)))
mkdirSync(here, { recursive: true })
const only = backend === "webgpu" && args.length === 0 ? ["webgpu"] : args
const unknown = only.filter((o) => !Object.keys(benches).some((b) => b.includes(o)))
if (unknown.length > 0) throw new Error(`no bench named ${unknown.join(", ")} (benches: ${Object.keys(benches).join(", ")})`)

tf.env().set("PROD", true)
await tf.setBackend("cpu")

/** A figure's value; a ratio that is not printed (no fair peer) is NaN: "—". */
const show = (value: number | null) => (value === null || !Number.isFinite(value) ? "—" : value.toPrecision(4))

const results: Array<BenchFigure & { bench: string }> = []
for (const name of Object.keys(benches).filter((b) => !render && (only.length === 0 || only.some((o) => b.includes(o))) && !skipped.has(b))) {
  console.log(`bench ${name} …`)
  const mod = await benches[name]!()
  for (const fig of await mod.default()) {
    results.push({ bench: name, ...fig })
    console.log(`  ${fig.name}: ${show(fig.value)} ${fig.unit}${fig.note ? `  (${fig.note})` : ""}`)
  }
}

// A partial run (`pnpm bench sampler`) replaces only its own benches' figures.
const resultsFile = join(here, "results.json")
const ran = new Set(results.map((r) => r.bench))
let previousMeta: { date: string; node: string; backend: string; cores: number } | undefined
if (existsSync(resultsFile)) {
  const previous = JSON.parse(readFileSync(resultsFile, "utf8")) as { meta: NonNullable<typeof previousMeta>; results: typeof results }
  previousMeta = previous.meta
  results.unshift(...previous.results.filter((r) => !ran.has(r.bench)))
  results.sort((a, b) => a.bench.localeCompare(b.bench))
}

const meta = render && previousMeta ? previousMeta : { date: new Date().toISOString(), node: process.version, backend: tf.getBackend(), cores: (await import("node:os")).cpus().length }
writeFileSync(resultsFile, JSON.stringify({ meta, results }, null, 2) + "\n")
const md = [
  `# Benchmark results`,
  ``,
  `${meta.date} · Node ${meta.node} · tfjs backend ${meta.backend} · ${meta.cores} cores`,
  ``,
  `| bench | figure | value | unit | note |`,
  `|---|---|---|---|---|`,
  ...results.map((r) => `| ${r.bench} | ${r.name} | ${show(r.value)} | ${r.unit} | ${r.note ?? ""} |`)
]
// Written by hand beside the figures: the CPU speed notes (RESULTS-cpu.md: rounds, profile,
// what was tried); and from another machine, the GPU figures (scripts/gpu/measure.sh writes RESULTS-gpu.md).
for (const extra of ["RESULTS-cpu.md", "RESULTS-cluster.md", "RESULTS-gpu.md"]) {
  const file = join(here, extra)
  if (existsSync(file)) md.push("", readFileSync(file, "utf8").trim())
}
writeFileSync(join(here, "RESULTS.md"), md.join("\n") + "\n")
console.log(`wrote ${resultsFile} and RESULTS.md beside it (${results.length} figures)`)
