/**
 * Where a DPO step's time goes on the onnx engine, part by part, as OnnxPolicyEngine.gradients and
 * the TrainLoop take it: the train graph's forward, the loss and its gradient (tfjs), the VJP graph,
 * the gradients into tfjs tensors, their norm, and AdamW with clipping; and inside the VJP graph, per
 * op type, from onnxruntime's own profiler. Run by `pnpm bench profile` at both bench shapes.
 */
import * as tf from "@tensorflow/tfjs-core"
import { type Domain, Seeds } from "@odpo/core"
import { Architectures, Onnx } from "@odpo/model"
import { Effect } from "effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ort from "onnxruntime-node"
import { AdamW, clipFactor, squaredNorms } from "../packages/optimizer/src/AdamW.ts"
import { objectives } from "../packages/optimizer/src/objectives/index.ts"
import type { BenchFigure } from "./run.ts"
import type { BenchShape } from "./shapes.ts"

const THREADS = 2

export const sequences = (shape: BenchShape, n: number, seed = 1): Array<Domain.Sequence> => {
  const rand = Seeds.mulberry32(seed)
  const tokens = (k: number) => Array.from({ length: k }, () => 3 + Math.floor(rand() * (shape.config.vocabSize - 3)))
  return Array.from({ length: n }, () => ({ promptTokenIds: tokens(shape.prompt), completionTokenIds: tokens(shape.T - shape.prompt) }))
}

export const sigmoidLoss = { type: "sigmoid", beta: 0.1, labelSmoothing: 0, simpoGamma: 1, rdpoAlpha: 0, ktoLambdaD: 1, ktoLambdaU: 1, ktoDesirableDrop: 0, sftWeight: 0, klMode: "reward", ppoClipEpsilon: 0.2 } as const

export const trainingPairs = (shape: BenchShape): Array<Domain.TrainingPair> => {
  const seqs = sequences(shape, 2 * shape.pairs, 7)
  return Array.from({ length: shape.pairs }, (_, i) => ({ chosen: seqs[2 * i]!, rejected: seqs[2 * i + 1]!, refChosenLogp: -200, refRejectedLogp: -200 }))
}

/** Per op type, microseconds summed over the runs after the first (the warm-up), from onnxruntime's profile file. */
const opTimes = (file: string): Map<string, number> => {
  const events = JSON.parse(readFileSync(file, "utf8")) as Array<{ cat: string; name: string; ts: number; dur: number; args?: { op_name?: string } }>
  const runs = events.filter((e) => e.cat === "Session" && e.name === "model_run").sort((a, b) => a.ts - b.ts)
  const warmedUp = runs.length > 0 ? runs[0]!.ts + runs[0]!.dur : 0
  const out = new Map<string, number>()
  const nodes = new Map<string, number>()
  for (const e of events) {
    if (e.cat !== "Node" || e.ts < warmedUp || !e.name.endsWith("_kernel_time") || !e.args?.op_name) continue
    out.set(e.args.op_name, (out.get(e.args.op_name) ?? 0) + e.dur)
    if (process.env["ODPO_PROFILE_NODES"]) nodes.set(e.name, (nodes.get(e.name) ?? 0) + e.dur)
  }
  if (process.env["ODPO_PROFILE_NODES"]) {
    for (const [n, us] of [...nodes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`    ${n}: ${(us / 1000).toFixed(2)} ms`)
  }
  return out
}

export const profileDpoStep = async (shape: BenchShape): Promise<Array<BenchFigure>> => {
  const { config } = shape
  const model = Architectures.init(config, 0)
  const pairs = trainingPairs(shape)
  const objective = objectives.sigmoid(sigmoidLoss)
  const adam = new AdamW(model.variables(), { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 })
  const parts = new Map<string, Array<number>>()
  const timed = async <A>(part: string, f: () => A | Promise<A>): Promise<A> => {
    const t0 = performance.now()
    const a = await f()
    const list = parts.get(part) ?? []
    list.push(performance.now() - t0)
    parts.set(part, list)
    return a
  }
  const steps = shape.dpoReps + 1
  const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const sessions = yield* Onnx.OnnxSessions.make({ provider: "cpu", threads: THREADS })
    return yield* Effect.promise(async () => {
      for (let s = 0; s < steps; s++) {
        if (s === 1) parts.clear() // the first step builds the sessions
        const t0 = performance.now()
        const host = await timed("weights read (tfjs → host)", () => Effect.runPromise(Onnx.OnnxPolicy.hostModelOf(model)))
        const seqs = objective.sequences(pairs)
        const batch = await timed("batch (host)", () => Effect.runPromise(Onnx.OnnxPolicy.makeHostBatch(seqs, 0, config.contextLength)))
        const { tokenLogps, saved } = await timed("train forward (onnx)", () => Effect.runPromise(Onnx.OnnxPolicy.trainingLogps(sessions, host, batch)))
        const shape2: [number, number] = [batch.B, batch.T - 1]
        const { value, upstream } = await timed("loss and dL/dlogp (tfjs)", () =>
          tf.tidy(() => {
            const mask = tf.tensor2d(batch.targetMask, shape2)
            const lossOf = (tokens: tf.Tensor2D) =>
              tf.div(objective.lossSum(pairs, { tokens, mask, sums: tf.sum(tokens, -1) as tf.Tensor1D }, { add: () => {} }), pairs.length) as tf.Scalar
            const { value, grad } = tf.valueAndGrad(lossOf)(tf.tensor2d(tokenLogps, shape2))
            return { value: tf.keep(value), upstream: Float32Array.from(grad.dataSync()) }
          }))
        const grads = await timed("VJP graph (onnx)", () => Effect.runPromise(Onnx.OnnxPolicy.gradients(sessions, host, batch, upstream, saved)))
        const tensors = await timed("gradients → tfjs tensors", () => Architectures.parameterShapes(config).map(([name, sh]) => tf.tensor(grads.get(name)!, sh)))
        const norm = await timed("global norm (host)", () => {
          const norms = squaredNorms(tensors)
          const read = tf.concat([value, ...norms].map((t) => tf.reshape(t, [1])))
          const numbers = read.dataSync()
          tf.dispose([read, value, ...norms])
          let sq = 0
          for (let i = 1; i < numbers.length; i++) sq += numbers[i]!
          return Math.sqrt(sq)
        })
        await timed("AdamW with clipping (host, WebAssembly SIMD)", () => adam.apply(tensors, 1e-4, clipFactor(norm, 1)))
        tf.dispose(tensors)
        const list = parts.get("step") ?? []
        list.push(performance.now() - t0)
        parts.set("step", list)
      }
      // onnxruntime's profiler on a session of its own (same options), two runs after a warm-up
      const host = await Effect.runPromise(Onnx.OnnxPolicy.hostModelOf(model))
      const batch = await Effect.runPromise(Onnx.OnnxPolicy.makeHostBatch(objective.sequences(pairs), 0, config.contextLength))
      const dir = mkdtempSync(join(tmpdir(), "odpo-vjp-profile-"))
      const prefix = join(dir, "vjp")
      const options = { ...Onnx.OnnxSessions.sessionOptions({ provider: "cpu", threads: THREADS }), enableProfiling: true, profileFilePrefix: prefix }
      const graph = Architectures.onnxGraph(config, "vjp")!(config)
      const session = await ort.InferenceSession.create((await import("@odpo/model")).OnnxWriter.encodeOnnxModel(graph, { opset: 17, producer: "odpo" }), options)
      const { saved } = await Effect.runPromise(Onnx.OnnxPolicy.trainingLogps(sessions, host, batch))
      const feeds = {
        ...saved,
        ...Onnx.OnnxPolicy.weightFeeds(ort, host),
        ...Onnx.OnnxPolicy.batchFeeds(ort, batch),
        upstream: new ort.Tensor("float32", new Float32Array(batch.B * (batch.T - 1)).fill(0.01), [batch.B, batch.T - 1])
      }
      await session.run(feeds)
      const runs = 2
      for (let i = 0; i < runs; i++) await session.run(feeds)
      session.endProfiling() // writes vjp_<date>.json into dir
      await session.release()
      const ops = opTimes(join(dir, readdirSync(dir).find((f) => f.endsWith(".json"))!))
      rmSync(dir, { recursive: true, force: true })
      return { ops, runs }
    })
  })))
  adam.dispose()
  model.dispose()
  const best = (part: string) => Math.min(...parts.get(part)!)
  const mean = (part: string) => parts.get(part)!.reduce((a, b) => a + b, 0) / parts.get(part)!.length
  const stepMs = mean("step")
  const figures: Array<BenchFigure> = []
  for (const part of parts.keys()) {
    if (part === "step") continue
    figures.push({ name: `${shape.name} DPO step: ${part}`, value: mean(part), unit: "ms", note: `${((100 * mean(part)) / stepMs).toFixed(1)}% of the step; best ${best(part).toFixed(1)} ms` })
  }
  figures.push({ name: `${shape.name} DPO step: whole step`, value: stepMs, unit: "ms", note: `mean of ${shape.dpoReps} after a warm-up; ${2 * shape.pairs} × ${shape.T} tokens, ${THREADS} threads` })
  const total = [...result.ops.values()].reduce((a, b) => a + b, 0)
  const top = [...result.ops.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8)
  for (const [op, us] of top) {
    figures.push({ name: `${shape.name} VJP graph op: ${op}`, value: us / 1000 / result.runs, unit: "ms", note: `${((100 * us) / total).toFixed(1)}% of the graph's kernel time (onnxruntime profiler)` })
  }
  figures.push({ name: `${shape.name} VJP graph: kernel time`, value: total / 1000 / result.runs, unit: "ms", note: `per run, all ops` })
  return figures
}
