/**
 * The onnx engine (onnxruntime-node, CPU provider) against PyTorch 1.13 on the same machine, same
 * threads (both sleeping, not spinning, between ops), in one run, on the reference model (V=64, D=128, L=4, H=4, context 64):
 *   - reference log-probs: forward tokens/s over 32 sequences × 64 tokens (bench/torch_model.py --forward);
 *   - sampling: the real sampler (decodeRows, RowDecoder and its processors, seeded draws) over
 *     64 prompts × 8 samples × 32 new tokens (bench/torch_sample.py --json);
 *   - the DPO train step: 16 pairs × 64 tokens, sigmoid loss, clipping at 1, AdamW (bench/torch_dpo.py);
 * and weights fed as graph inputs (one graph per shape, what the engine does) against weights
 * baked in as initializers (one graph per checkpoint). On a shared machine the mean of a few
 * steps depends on the neighbours' load; the ratios compare best steps (the least disturbed,
 * on both sides), and the means are reported beside them.
 */
import * as tf from "@tensorflow/tfjs-core"
import { type Domain, Seeds, Tokenizer } from "@odpo/core"
import { Gpt, Onnx, OnnxWriter, type PolicyEngine } from "@odpo/model"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import * as ort from "onnxruntime-node"
import { AdamW, clipByGlobalNorm } from "../packages/optimizer/src/AdamW.ts"
import { objectives } from "../packages/optimizer/src/objectives/index.ts"
import { policyGradients, stepGradients } from "../packages/optimizer/src/TrainLoop.ts"
import * as OnnxEngine from "../packages/sampler/src/OnnxEngine.ts"
import { defaultMaxBatchRows, requestRows } from "../packages/sampler/src/Sampling.ts"
import type { BenchFigure } from "./run.ts"

const THREADS = 2
const config: Gpt.GptConfig = { vocabSize: 64, contextLength: 64, dModel: 128, nLayers: 4, nHeads: 4, dropout: 0 }
const T = 64
const PROMPT = 16
const here = dirname(fileURLToPath(import.meta.url))

/**
 * The last JSON line a torch script prints, or undefined where python3 has no torch. Its OpenMP
 * threads sleep between ops (OMP_WAIT_POLICY=PASSIVE) as onnxruntime's do here (allow_spinning 0):
 * on a shared machine spinning costs either side 2–3×, so both run the same policy.
 */
const torch = <A>(script: string, args: ReadonlyArray<string>): A | undefined => {
  for (const python of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(python, [join(here, script), ...args], { encoding: "utf8", env: { ...process.env, OMP_WAIT_POLICY: "PASSIVE" } })
    if (r.status === 0) return JSON.parse(r.stdout.trim().split("\n").pop()!) as A
  }
  return undefined
}

/** Seconds per call over `reps` calls after one warm-up: the mean and the best. */
const timeIt = async (f: () => Promise<unknown>, reps: number): Promise<{ mean: number; best: number }> => {
  await f()
  const times: Array<number> = []
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now()
    await f()
    times.push((performance.now() - t0) / 1000)
  }
  return { mean: times.reduce((a, b) => a + b, 0) / reps, best: Math.min(...times) }
}

/** Tokens per second from seconds per call. */
const rate = (tokens: number, t: { mean: number; best: number }) => ({ mean: tokens / t.mean, best: tokens / t.best })

const rand = Seeds.mulberry32(1)
const tokens = (n: number) => Array.from({ length: n }, () => 3 + Math.floor(rand() * (config.vocabSize - 3)))
const sequence = (): Domain.Sequence => ({ promptTokenIds: tokens(PROMPT), completionTokenIds: tokens(T - PROMPT) })

const referenceLogps = (sessions: Onnx.OnnxSessions.OnnxSessions, model: Onnx.OnnxPolicy.HostModel) =>
  Effect.promise(async () => {
    const seqs = Array.from({ length: 32 }, sequence)
    const run = () => Effect.runPromise(Onnx.OnnxPolicy.sequenceLogps(sessions, model, seqs, 0, 32))
    return rate(32 * T, await timeIt(run, 10))
  })

/** The sampler bench's workload (bench/sampler.bench.ts): no EOS, so every row makes 32 tokens. */
const sampling = (sessions: OnnxEngine.DecodeSessions, model: Onnx.OnnxPolicy.HostModel) =>
  Effect.promise(async () => {
    const chars = Array.from({ length: 61 }, (_, i) => String.fromCodePoint(0x100 + i))
    const tokenizer: Tokenizer.Tokenizer = { ...new Tokenizer.CharTokenizer({ symbols: chars }), eosId: null }
    const prompts = Array.from({ length: 64 }, (_, i) => ({
      promptId: `p${i}`,
      tokenIds: [1, ...Array.from({ length: 4 + (i % 8) }, (_, t) => 3 + ((i * 7 + t * 13) % 61))]
    }))
    const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: 32, stop: [] }
    const rows = requestRows({ policy: { id: "bench", path: "" }, prompts, n: 8, params, seed: 0 })
    // the Sampler's batches of 256 rows, each timed: the whole request (mean) and the best batch
    const batches: Array<{ tokens: number; seconds: number }> = []
    const run = async () => {
      for (let i = 0; i < rows.length; i += defaultMaxBatchRows) {
        const t0 = performance.now()
        const out = await OnnxEngine.generateRows(model, sessions, tokenizer, { rows: rows.slice(i, i + defaultMaxBatchRows), params })
        batches.push({ tokens: out.reduce((a, r) => a + r.tokenIds.length, 0), seconds: (performance.now() - t0) / 1000 })
      }
    }
    await run() // warm-up
    batches.length = 0
    await run() // as torch_sample.py: one pass over the rows, two batches
    const tokens = batches.reduce((a, b) => a + b.tokens, 0)
    const seconds = batches.reduce((a, b) => a + b.seconds, 0)
    return { mean: tokens / seconds, best: Math.max(...batches.map((b) => b.tokens / b.seconds)) }
  })

/**
 * One DPO step as the onnx Trainer takes it: the objective's forward graph → sigmoid loss and its
 * gradient w.r.t. the token log-probs in tfjs → VJP graph → clipping at 1 → AdamW (tfjs cpu).
 */
const dpoStep = (engine: PolicyEngine.PolicyEngine) =>
  Effect.promise(async () => {
    const model = Gpt.Gpt.init(config, 0)
    const pairs = Array.from({ length: 16 }, (): Domain.TrainingPair => ({ chosen: sequence(), rejected: sequence(), refChosenLogp: -200, refRejectedLogp: -200 }))
    const loss = { type: "sigmoid", beta: 0.1, labelSmoothing: 0, simpoGamma: 1, rdpoAlpha: 0, ktoLambdaD: 1, ktoLambdaU: 1, ktoDesirableDrop: 0, sftWeight: 0, klMode: "reward", ppoClipEpsilon: 0.2 } as const
    const gradients = policyGradients(engine, model, 0, objectives.sigmoid(loss))
    const adam = new AdamW(model.variables(), { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 })
    const step = async () => {
      const { grads, norm } = await Effect.runPromise(stepGradients(gradients, [pairs], 0))
      const clipped = clipByGlobalNorm(grads, norm, 1)
      adam.apply(clipped, 1e-4)
      tf.dispose(clipped !== grads ? [...grads, ...clipped] : grads)
    }
    const t = await timeIt(step, 5)
    adam.dispose()
    model.dispose()
    return rate(2 * pairs.length * T, t)
  })

/** Forward time with weights as initializers over with weights as inputs, and the per-checkpoint session cost. */
const inputsVersusInitializers = (model: Onnx.OnnxPolicy.HostModel) =>
  Effect.promise(async () => {
    const options = Onnx.OnnxSessions.sessionOptions({ provider: "cpu", threads: THREADS })
    const graph = Onnx.PolicyGraphs.logpsGraph(config)
    const names = new Set(Gpt.parameterShapes(config).map(([n]) => n))
    const baked: OnnxWriter.OnnxGraph = {
      ...graph,
      inputs: graph.inputs.filter((i) => !names.has(i.name)),
      initializers: [...graph.initializers, ...Gpt.parameterShapes(config).map(([name, dims]) => ({ name, dataType: "float32" as const, dims, data: model.weights.get(name)! }))]
    }
    const t0 = performance.now()
    const bakedSession = await ort.InferenceSession.create(OnnxWriter.encodeOnnxModel(baked), options)
    const create = (performance.now() - t0) / 1000
    const inputSession = await ort.InferenceSession.create(OnnxWriter.encodeOnnxModel(graph), options)
    const batch = Onnx.OnnxPolicy.makeHostBatch(Array.from({ length: 32 }, sequence), 0, config.contextLength).pipe(Effect.runSync)
    const feeds = Onnx.OnnxPolicy.batchFeeds(ort, batch)
    // interleaved, so both see the same load on a shared machine
    let inputs = 0
    let initializers = 0
    for (let round = 0; round < 5; round++) {
      inputs += (await timeIt(() => inputSession.run({ ...feeds, ...Onnx.OnnxPolicy.weightFeeds(ort, model) }), 4)).mean
      initializers += (await timeIt(() => bakedSession.run(feeds), 4)).mean
    }
    await bakedSession.release()
    await inputSession.release()
    return { ratio: initializers / inputs, create, forward: inputs / 5 }
  })

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const weights = Gpt.initialParameters(config, 0)
  const model = { config, weights }
  const ours = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const sessions = yield* Onnx.OnnxSessions.make({ provider: "cpu", threads: THREADS })
    const decode = yield* OnnxEngine.decodeSessions(sessions, config)
    return {
      forward: yield* referenceLogps(sessions, model),
      sample: yield* sampling(decode, model),
      dpo: yield* dpoStep(yield* Onnx.OnnxPolicyEngine.make("onnx").pipe(Effect.provideService(Onnx.OnnxSessions.OnnxSessionPool, sessions))),
      weights: yield* inputsVersusInitializers(model)
    }
  })))
  const torchForward = torch<{ tokens_per_s: number; best_tokens_per_s: number }>("torch_model.py", ["--forward", "--json", "--threads", String(THREADS), "--steps", "5"])
  const torchSample = torch<{ kv_tokens_per_wall_s: number; kv_best_batch_tokens_per_s: number }>("torch_sample.py", ["--json", "--threads", String(THREADS)])
  const torchDpo = torch<{ tokens_per_second: number; best_tokens_per_second: number }>("torch_dpo.py", ["--steps", "5", "--threads", String(THREADS)])
  const threads = `${THREADS} threads`
  const mean = (x: { mean: number }) => `mean ${x.mean.toFixed(0)} tok/s`
  const figures: Array<BenchFigure> = [
    { name: "reference log-probs, onnx", value: ours.forward.best, unit: "tok/s", note: `forward, 32 × 64 tokens, best of 10 (${mean(ours.forward)}), ${threads}` },
    { name: "sampling, onnx", value: ours.sample.best, unit: "tok/s", note: `real sampler, 64 prompts × 8 × 32 tokens, KV cache, best 256-row batch (${mean(ours.sample)}), ${threads}` },
    { name: "DPO train step, onnx", value: ours.dpo.best, unit: "tok/s", note: `16 pairs × 64 tokens: forward, loss (tfjs), VJP, clip, AdamW (tfjs cpu); best of 5 (${mean(ours.dpo)}), ${threads}` },
    { name: "weights as initializers / as inputs, forward time", value: ours.weights.ratio, unit: "×", note: `> 1: inputs are faster; inputs: ${(ours.weights.forward * 1000).toFixed(1)} ms a batch` },
    { name: "session creation with weights as initializers", value: ours.weights.create * 1000, unit: "ms", note: "paid per checkpoint (every round); inputs pay it once per shape" }
  ]
  const ratio = (name: string, onnx: { best: number }, peer: { best: number; mean: number } | undefined, target: number, script: string) => {
    if (peer === undefined) return
    figures.push(
      { name: `${name}, torch`, value: peer.best, unit: "tok/s", note: `bench/${script}, best (mean ${peer.mean.toFixed(0)} tok/s), ${threads}` },
      { name: `${name}, onnx / torch`, value: onnx.best / peer.best, unit: "×", note: `best vs best; target ≥ ${target}×` }
    )
  }
  ratio("reference log-probs", ours.forward, torchForward && { best: torchForward.best_tokens_per_s, mean: torchForward.tokens_per_s }, 10, "torch_model.py --forward")
  ratio("sampling", ours.sample, torchSample && { best: torchSample.kv_best_batch_tokens_per_s, mean: torchSample.kv_tokens_per_wall_s }, 5, "torch_sample.py --json")
  ratio("DPO train step", ours.dpo, torchDpo && { best: torchDpo.best_tokens_per_second, mean: torchDpo.tokens_per_second }, 3, "torch_dpo.py")
  return figures
}
