/**
 * The onnx engine against PyTorch 1.13 (OpenBLAS) at GPT-2 small's shape (V 50257, D 768, 12
 * layers, 12 heads, T 128; bench/shapes.ts): the masked log-prob forward over 8 sequences
 * (bench/torch_model.py --forward --shape) and the DPO step over 4 pairs (bench/torch_dpo.py
 * --shape), engine and peer back to back in each round (`--repeat N`), 2 threads each. Beside
 * them the GFLOP/s each side reaches in model FLOPs (matmuls: forward 1×, DPO step 3×) and
 * onnxruntime's own MatMul at the model's sizes — the limit of this machine.
 */
import { Gpt, Onnx, OnnxWriter } from "@odpo/model"
import { Effect } from "effect"
import { loadavg } from "node:os"
import * as ort from "onnxruntime-node"
import { dpoStep, forwardLogps, timeIt } from "./onnx.bench.ts"
import { type Blas, comparison, measured, median, range, rounds, torch } from "./peer.ts"
import type { BenchFigure } from "./run.ts"
import { forwardFlops, gpt2Small as shape, torchShape } from "./shapes.ts"

const THREADS = 2

/** onnxruntime's MatMul alone, [M, K] × [K, N], best of 3 after a warm-up: GFLOP/s. */
export const ortMatMul = async (M: number, K: number, N: number, threads = THREADS): Promise<number> => {
  const graph: OnnxWriter.OnnxGraph = {
    name: "matmul",
    nodes: [{ opType: "MatMul", inputs: ["a", "b"], outputs: ["c"], name: "c" }],
    initializers: [],
    inputs: [{ name: "a", dataType: "float32", shape: [M, K] }, { name: "b", dataType: "float32", shape: [K, N] }],
    outputs: [{ name: "c", dataType: "float32", shape: [M, N] }]
  }
  const session = await ort.InferenceSession.create(OnnxWriter.encodeOnnxModel(graph), Onnx.OnnxSessions.sessionOptions({ provider: "cpu", threads }))
  const a = new ort.Tensor("float32", Float32Array.from({ length: M * K }, (_, i) => ((i % 13) - 6) / 13), [M, K])
  const b = new ort.Tensor("float32", Float32Array.from({ length: K * N }, (_, i) => ((i % 7) - 3) / 7), [K, N])
  const t = await timeIt(() => session.run({ a, b }), 3)
  await session.release()
  return (2 * M * K * N) / t.best / 1e9
}

export default async (): Promise<ReadonlyArray<BenchFigure>> => {
  const { T } = shape
  const config = shape.config as Gpt.GptConfig
  const [forward, dpo] = [measured(), measured()]
  for (let round = 0; round < rounds(); round++) {
    const weights = Gpt.initialParameters(config, 0)
    const ours = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const sessions = yield* Onnx.OnnxSessions.make({ provider: "cpu", threads: THREADS })
      const engine = yield* Onnx.OnnxPolicyEngine.make("onnx").pipe(Effect.provideService(Onnx.OnnxSessions.OnnxSessionPool, sessions))
      const f = yield* forwardLogps(sessions, { config, weights }, shape)
      return { forward: f, dpo: yield* dpoStep(engine, shape) }
    })))
    const loadNow = loadavg()[0]!
    const torchForward = torch<{ best_tokens_per_s: number; blas?: Blas }>("torch_model.py", [
      "--forward", "--json", "--threads", String(THREADS), "--steps", String(shape.forwardReps), ...torchShape(shape, shape.forwardBatch)
    ])
    const torchDpo = torch<{ best_tokens_per_second: number; blas?: Blas }>("torch_dpo.py", [
      "--steps", String(shape.dpoReps), "--threads", String(THREADS), ...torchShape(shape, shape.pairs)
    ])
    for (const [m, o, peer, best] of [[forward, ours.forward.best, torchForward, torchForward?.best_tokens_per_s], [dpo, ours.dpo.best, torchDpo, torchDpo?.best_tokens_per_second]] as const) {
      m.ours.push(o)
      m.loads.push(loadNow)
      if (peer !== undefined && best !== undefined) {
        m.peer.push(best)
        m.blas.push(peer.blas)
      }
    }
  }
  // GFLOP/s from tokens/s, in the work the step needs (model FLOPs, the same for both sides): the
  // forward's matmul FLOPs per token, and for the DPO step forward + backward (2× forward) = 3×.
  const perToken = forwardFlops(shape, 1) / T
  const gflops = (tokensPerS: number, passes: number) => (tokensPerS * perToken * passes) / 1e9
  const N = shape.forwardBatch * T
  const mlp = await ortMatMul(N, config.dModel, 4 * config.dModel)
  const head = await ortMatMul(N, config.dModel, config.vocabSize)
  const name = `GPT-2 small`
  const sizes = `V ${config.vocabSize}, D ${config.dModel}, ${config.nLayers} layers, T ${T}`
  return [
    ...comparison(`${name} log-prob forward`, forward, "torch_model.py --forward --shape", 1.5).map((f, i) =>
      i === 0 ? { ...f, note: `${sizes}, ${shape.forwardBatch} sequences, best of ${shape.forwardReps}; ${THREADS} threads; ${f.note}` } : f
    ),
    ...comparison(`${name} DPO train step`, dpo, "torch_dpo.py --shape", 1.2).map((f, i) =>
      i === 0 ? { ...f, note: `${sizes}, ${shape.pairs} pairs: train forward, loss (tfjs), VJP, norm, AdamW with clipping (host); best of ${shape.dpoReps}; ${f.note}` } : f
    ),
    { name: `${name} log-prob forward, onnx GFLOP/s`, value: gflops(median(forward.ours), 1), unit: "GFLOP/s", note: `matmul FLOPs of the forward (${range(forward.ours.map((r) => gflops(r, 1)), 1)})` },
    ...(forward.peer.length > 0 ? [{ name: `${name} log-prob forward, torch GFLOP/s`, value: gflops(median(forward.peer), 1), unit: "GFLOP/s", note: "same FLOPs" }] : []),
    { name: `${name} DPO train step, onnx GFLOP/s`, value: gflops(median(dpo.ours), 3), unit: "GFLOP/s", note: "model FLOPs: forward + backward (2× forward)" },
    ...(dpo.peer.length > 0 ? [{ name: `${name} DPO train step, torch GFLOP/s`, value: gflops(median(dpo.peer), 3), unit: "GFLOP/s", note: "model FLOPs: forward + backward (2× forward)" }] : []),
    { name: `onnxruntime MatMul [${N}, ${config.dModel}] × [${config.dModel}, ${4 * config.dModel}]`, value: mlp, unit: "GFLOP/s", note: `the MLP's c_fc at this shape, ${THREADS} threads, best of 3: the machine's limit` },
    { name: `onnxruntime MatMul [${N}, ${config.dModel}] × [${config.dModel}, ${config.vocabSize}]`, value: head, unit: "GFLOP/s", note: "the tied head" }
  ]
}
