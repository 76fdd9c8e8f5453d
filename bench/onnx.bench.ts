/**
 * The onnx engine (onnxruntime-node, CPU provider) against PyTorch 1.13 on the same machine, same
 * threads (both sleeping, not spinning, between ops), engine and peer back to back in each round
 * (`pnpm bench onnx --repeat 3`: three rounds, medians and ranges), on the reference model (V=64,
 * D=128, L=4, H=4, context 64):
 *   - reference log-probs: forward tokens/s over 32 sequences × 64 tokens (bench/torch_model.py --forward);
 *   - sampling: the real sampler (decodeRows, RowDecoder and its processors, seeded draws) over
 *     64 prompts × 8 samples × 32 new tokens (bench/torch_sample.py --json);
 *   - the DPO train step: 16 pairs × 64 tokens, sigmoid loss, clipping at 1, AdamW (bench/torch_dpo.py);
 * and weights fed as graph inputs (one graph per shape, what the engine does) against weights
 * baked in as initializers (one graph per checkpoint). GPT-2 small's shape is onnx-gpt2.bench.ts.
 * A ratio is printed only against PyTorch on an optimised BLAS (bench/peer.ts). On a shared
 * machine the mean of a few steps depends on the neighbours' load; the ratios compare best calls
 * (the least disturbed, on both sides), and the load is in the notes.
 */
import * as tf from "@tensorflow/tfjs-core"
import { type Domain, Seeds, Tokenizer } from "@odpo/core"
import { Architectures, Gpt, Onnx, OnnxWriter, type PolicyEngine } from "@odpo/model"
import { Effect } from "effect"
import * as ort from "onnxruntime-node"
import { AdamW, clipFactor } from "../packages/optimizer/src/AdamW.ts"
import { objectives } from "../packages/optimizer/src/objectives/index.ts"
import { policyGradients, stepGradients } from "../packages/optimizer/src/TrainLoop.ts"
import * as OnnxEngine from "../packages/sampler/src/OnnxEngine.ts"
import { defaultMaxBatchRows, requestRows } from "../packages/sampler/src/Sampling.ts"
import { loadavg } from "node:os"
import { addRound, type Blas, comparison, type Measured, measured, rounds, torch } from "./peer.ts"
import { sequences, sigmoidLoss, trainingPairs } from "./profile.ts"
import { reference, type BenchShape, torchShape } from "./shapes.ts"
import type { BenchFigure } from "./run.ts"

const THREADS = 2
const shape = reference
const { T } = shape
const config = shape.config as Gpt.GptConfig
const PROMPT = shape.prompt

/** Seconds per call over `reps` calls after one warm-up: the mean and the best. */
export const timeIt = async (f: () => Promise<unknown>, reps: number): Promise<{ mean: number; best: number }> => {
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
export const rate = (tokens: number, t: { mean: number; best: number }) => ({ mean: tokens / t.mean, best: tokens / t.best })

/** Masked sequence log-probs (the reference's, in a round) over shape.forwardBatch sequences. */
export const forwardLogps = (sessions: Onnx.OnnxSessions.OnnxSessions, model: Onnx.OnnxPolicy.HostModel, shape: BenchShape) =>
  Effect.promise(async () => {
    const seqs = sequences(shape, shape.forwardBatch)
    const run = () => Effect.runPromise(Onnx.OnnxPolicy.sequenceLogps(sessions, model, seqs, 0, shape.forwardBatch))
    return rate(shape.forwardBatch * shape.T, await timeIt(run, shape.forwardReps))
  })

/** How many rows the sampling bench draws: prompts × samples, each `newTokens` long. */
export interface SamplingWorkload {
  readonly prompts: number
  readonly samples: number
  readonly newTokens: number
}

/**
 * The sampler bench's workload (bench/sampler.bench.ts; torch_sample.py draws the same prompts):
 * no EOS, so every row makes `newTokens` tokens. The tokenizer has one symbol per token id of the model.
 */
export const sampling = (sessions: OnnxEngine.DecodeSessions, model: Onnx.OnnxPolicy.HostModel, workload: SamplingWorkload = { prompts: 64, samples: 8, newTokens: 32 }) =>
  Effect.promise(async () => {
    const chars = Array.from({ length: model.config.vocabSize - 3 }, (_, i) => String.fromCodePoint(0x100 + i))
    const tokenizer: Tokenizer.Tokenizer = { ...new Tokenizer.CharTokenizer({ symbols: chars }), eosId: null }
    const prompts = Array.from({ length: workload.prompts }, (_, i) => ({
      promptId: `p${i}`,
      tokenIds: [1, ...Array.from({ length: 4 + (i % 8) }, (_, t) => 3 + ((i * 7 + t * 13) % 61))]
    }))
    const params = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: workload.newTokens, stop: [] }
    const rows = requestRows({ policy: { id: "bench", path: "" }, prompts, n: workload.samples, params, seed: 0 })
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
 * One DPO step as the onnx Trainer takes it: the train graph (token log-probs, saved activations)
 * → sigmoid loss and its gradient w.r.t. the token log-probs in tfjs → VJP graph → global norm →
 * AdamW with clipping at 1 (its gradScale, as TrainLoop).
 */
export const dpoStep = (engine: PolicyEngine.PolicyEngine, shape: BenchShape) =>
  Effect.promise(async () => {
    const model = Architectures.init(shape.config, 0)
    const pairs = trainingPairs(shape)
    const gradients = policyGradients(engine, model, 0, objectives.sigmoid(sigmoidLoss))
    const adam = new AdamW(model.variables(), { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 })
    const step = async () => {
      const { grads, norm } = await Effect.runPromise(stepGradients(gradients, [pairs], 0))
      adam.apply(grads, 1e-4, clipFactor(norm, 1))
      tf.dispose(grads)
    }
    const t = await timeIt(step, shape.dpoReps)
    adam.dispose()
    model.dispose()
    return rate(2 * pairs.length * shape.T, t)
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
    const batch = Onnx.OnnxPolicy.makeHostBatch(sequences(shape, 32), 0, config.contextLength).pipe(Effect.runSync)
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
  const [forward, sample, dpo] = [measured(), measured(), measured()]
  let weightsFigure: { ratio: number; create: number; forward: number } | undefined
  for (let round = 0; round < rounds(); round++) {
    const ours = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const sessions = yield* Onnx.OnnxSessions.make({ provider: "cpu", threads: THREADS })
      const decode = yield* OnnxEngine.decodeSessions(sessions, config)
      const engine = yield* Onnx.OnnxPolicyEngine.make("onnx").pipe(Effect.provideService(Onnx.OnnxSessions.OnnxSessionPool, sessions))
      return {
        forward: yield* forwardLogps(sessions, model, shape),
        sample: yield* sampling(decode, model),
        dpo: yield* dpoStep(engine, shape),
        weights: round === 0 ? yield* inputsVersusInitializers(model) : undefined
      }
    })))
    weightsFigure ??= ours.weights
    const loadNow = loadavg()[0]!
    const torchForward = torch<{ best_tokens_per_s: number }>("torch_model.py", ["--forward", "--json", "--threads", String(THREADS), "--steps", "5", ...torchShape(shape, 32)])
    const torchSample = torch<{ kv_best_batch_tokens_per_s: number }>("torch_sample.py", ["--json", "--threads", String(THREADS)])
    const torchDpo = torch<{ best_tokens_per_second: number }>("torch_dpo.py", ["--steps", "5", "--threads", String(THREADS), ...torchShape(shape, shape.pairs)])
    const add = (m: Measured, o: number, peer: { blas?: Blas } | undefined, best: number | undefined) => addRound(m, o, loadNow, peer, best)
    add(forward, ours.forward.best, torchForward, torchForward?.best_tokens_per_s)
    add(sample, ours.sample.best, torchSample, torchSample?.kv_best_batch_tokens_per_s)
    add(dpo, ours.dpo.best, torchDpo, torchDpo?.best_tokens_per_second)
  }
  const threads = `${THREADS} threads`
  return [
    ...comparison("reference log-probs", forward, "torch_model.py --forward", 3).map((f, i) => i === 0 ? { ...f, note: `forward, 32 × 64 tokens, best of 10; ${threads}; ${f.note}` } : f),
    ...comparison("sampling", sample, "torch_sample.py --json", 2).map((f, i) => i === 0 ? { ...f, note: `real sampler, 64 prompts × 8 × 32 tokens, KV cache, best 256-row batch; ${threads}; ${f.note}` } : f),
    ...comparison("DPO train step", dpo, "torch_dpo.py", 1.5).map((f, i) =>
      i === 0 ? { ...f, note: `16 pairs × 64 tokens: train forward, loss (tfjs), VJP, norm, AdamW with clipping (host); best of 5; ${threads}; ${f.note}` } : f
    ),
    { name: "weights as initializers / as inputs, forward time", value: weightsFigure!.ratio, unit: "×", note: `> 1: inputs are faster; inputs: ${(weightsFigure!.forward * 1000).toFixed(1)} ms a batch` },
    { name: "session creation with weights as initializers", value: weightsFigure!.create * 1000, unit: "ms", note: "paid per checkpoint (every round); inputs pay it once per shape" }
  ]
}
