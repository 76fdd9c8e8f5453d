// Turns the files scripts/gpu/measure.sh wrote into OUT into one markdown section for
// bench/RESULTS.md: webgpu against PyTorch CUDA on the same GPU in the same call, and issue 9's targets.
// Usage: node scripts/gpu/report.mjs OUT
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"

const out = process.argv[2]
const read = (f) => (existsSync(join(out, f)) ? readFileSync(join(out, f), "utf8").trim() : undefined)
/** A JSON file, or the last JSON line of a log-like file (python prints one line). */
const json = (f) => {
  const text = read(f)
  if (!text) return undefined
  try {
    return JSON.parse(text)
  } catch {
    try {
      return JSON.parse(text.split("\n").filter((l) => l.trim().startsWith("{")).pop() ?? "")
    } catch {
      return undefined
    }
  }
}
const fmt = (x, digits = 3) => (x === undefined || Number.isNaN(x) ? "—" : Number(x).toPrecision(digits))

const bench = json("bench/results.json")?.results ?? []
const fig = (name) => bench.find((r) => r.name === name)?.value
const device = json("bandit-device.json")?.[0]
const torch = {
  train: json("torch-train.json"), big: json("torch-train-90m.json"), decode: json("torch-decode.json"), dpo: json("torch-dpo.json"),
  smolTrain: json("torch-train-smollm.json"), smolDecode: json("torch-decode-smollm.json")
}
/** Mean seconds a round (1…) took, from a run's stage_times. */
const meanRoundOf = (file) => {
  const perRound = new Map()
  for (const s of json(file) ?? []) if (s.round >= 1) perRound.set(s.round, (perRound.get(s.round) ?? 0) + Number(s.wall_s))
  const rounds = [...perRound.values()]
  return rounds.length ? rounds.reduce((a, b) => a + b, 0) / rounds.length : undefined
}
const meanRound = meanRoundOf("bandit-stages.json")
const meanRoundOnnx = meanRoundOf("bandit-onnx-stages.json")
const onnxDevice = json("bandit-onnx-device.json")?.[0]
const round0 = (json("sentiment-stages.json") ?? []).filter((s) => s.round === 0)
const sft = round0.length > 0 ? round0.reduce((a, s) => a + Number(s.wall_s), 0) : undefined

/** transformers' from_pretrained on odpo's exports (hf-export-check.py), one line. */
function hfExportLine(r) {
  if (!r) return `- transformers on odpo's Hugging Face exports: not run (no transformers, or see failures.txt).`
  const each = Object.entries(r.exports).map(([name, e]) => e.error ? `${name}: ${e.error}` : `${name} → ${e.class}, max |Δ logit| ${e.max_abs_logit_diff.toExponential(1)}${e.ok ? "" : " (over 1e-4)"}`)
  return `- transformers ${r.transformers} \`from_pretrained\` on \`odpo export-hf\` of the tiny fixtures: ${each.join("; ")}.`
}

const rows = [
  ["train, reference model B32 (tok/s)", fig("train tokens/s (webgpu)"), torch.train?.tokens_per_s, "≥ 60,000"],
  ["train, ~90 M (V8192 D768 L12 H12 T256 B8) (tok/s)", fig("train tokens/s, ~90 M (webgpu)"), torch.big?.tokens_per_s, "≥ 15,000"],
  ["decode 512 × 32, real sampler (tok/s)", fig("decode tokens/s, real sampler (webgpu)"), torch.decode?.kv_tokens_per_wall_s, "≥ 60,000"],
  ["online bandit round (s)", fig("online bandit round (webgpu)"), undefined, "≤ 0.5 (PyTorch peer's round: 0.15)"],
  ["train, SmolLM2-135M shape T128 B8 (tok/s)", fig("train tokens/s, SmolLM2-135M (webgpu)"), torch.smolTrain?.tokens_per_s, "—"],
  ["decode 512 × 32, SmolLM2-135M shape (tok/s)", fig("decode tokens/s, SmolLM2-135M, real sampler (webgpu)"), torch.smolDecode?.kv_tokens_per_wall_s, "within 4× of PyTorch CUDA"]
]
const lines = [
  `## GPU (${new Date().toISOString().slice(0, 10)})`,
  ``,
  `Device: ${read("device.txt") ?? "?"}; webgpu adapter: ${device?.device ?? "?"}; PyTorch ${torch.train?.torch ?? "—"} on ${torch.train?.device ?? "—"} (fp32, TF32 off).`,
  ``,
  `| figure | webgpu | PyTorch CUDA | webgpu / torch | target |`,
  `|---|---|---|---|---|`,
  ...rows.map(([name, w, t, target]) => `| ${name} | ${fmt(w)} | ${fmt(t)} | ${w !== undefined && t !== undefined ? fmt(w / t) : "—"} | ${target} |`),
  ``,
  `- \`odpo run experiments/bandit/online.json --backend webgpu\`: ${fmt(Number(read("bandit.wall_s")), 4)} s wall for the whole run (π₀ SFT + 8 rounds); rounds 1–8 ${fmt(meanRound)} s each on average (stage_times).`,
  `- The same run on ${onnxDevice?.backend ?? "onnx-webgpu"} (${onnxDevice?.device ?? "?"}): ${fmt(Number(read("bandit-onnx.wall_s")), 4)} s wall; rounds 1–8 ${fmt(meanRoundOnnx)} s each on average.`,
  `- GPU-sized sentiment π₀ (experiments/sentiment/gpu-online.json): SFT and round-0 evaluation ${fmt(sft)} s.`,
  hfExportLine(json("hf-export.json")),
  torch.dpo ? `- PyTorch CUDA DPO step (bench/torch_dpo.py): ${fmt(torch.dpo.tokens_per_second)} tok/s.` : `- PyTorch peers: not run (see failures.txt).`,
  ...(read("failures.txt") ? [``, `Failures: ${read("failures.txt").split("\n").join("; ")}`] : [])
]
console.log(lines.join("\n"))
