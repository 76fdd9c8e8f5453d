/**
 * Export a RewardModel to ONNX in Hugging Face's sequence-classification layout: inputs
 * `input_ids` and `attention_mask` (int64 [batch, seq], right-padded), output `logits`
 * (float [batch, 1]) read at the last real token (Σ attention_mask − 1). Opset 17.
 * The graph is the trunk of Gpt.hidden (the reward model's trunk) written out op by op.
 */
import { Effect } from "effect"
import type { Tokenizer } from "@odpo/core"
import { Errors } from "@odpo/core"
import { OnnxWriter, TokenizerFile } from "@odpo/model"
import { mkdir, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { type FitOptions, fitRewardModel, type RewardModel } from "./RewardModel.ts"

type Node = OnnxWriter.OnnxNode
type Init = OnnxWriter.OnnxTensor

const f32 = (name: string, dims: ReadonlyArray<number>, data: Float32Array): Init => ({ name, dataType: "float32", dims, data })
const i64 = (name: string, values: ReadonlyArray<number>, dims: ReadonlyArray<number> = [values.length]): Init =>
  ({ name, dataType: "int64", dims, data: BigInt64Array.from(values.map((v) => BigInt(v))) })
const scalarF = (name: string, v: number) => f32(name, [], Float32Array.of(v))

/** Columns [from, to) of a row-major [rows, cols] matrix (splitting c_attn into q, k, v). */
const columns = (data: Float32Array, rows: number, cols: number, from: number, to: number): Float32Array => {
  const out = new Float32Array(rows * (to - from))
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * cols + from, r * cols + to), r * (to - from))
  return out
}

export const rewardModelGraph = async (model: RewardModel): Promise<OnnxWriter.OnnxGraph> => {
  const { vocabSize: V, contextLength: C, dModel: D, nLayers, nHeads: H } = model.config
  const hd = D / H
  const w = await model.trunk.weights()
  const head = (await model.head.data()) as Float32Array
  const nodes: Array<Node> = []
  const inits: Array<Init> = [
    f32("wte", [V, D], w.get("wte.weight")!),
    f32("wpe", [C, D], w.get("wpe.weight")!),
    f32("score", [D, 1], head),
    i64("zero_i", [0], []), i64("one_i", [1], []), i64("axis0", [0]), i64("axis1", [1]), i64("axes12", [1, 2]), i64("axis2", [2]),
    i64("heads_shape", [0, 0, H, hd]), i64("merge_shape", [0, 0, D]),
    scalarF("zero_f", 0), scalarF("neg_inf", -1e9), scalarF("att_scale", 1 / Math.sqrt(hd)),
    scalarF("half", 0.5), scalarF("one_f", 1), scalarF("three", 3), scalarF("gelu_c", 0.044715), scalarF("sqrt_2_pi", Math.sqrt(2 / Math.PI))
  ]
  let n = 0
  /** Append a node; returns its (single) output name. */
  const op = (opType: string, inputs: ReadonlyArray<string>, attributes?: Node["attributes"]): string => {
    const out = `${opType.toLowerCase()}_${n++}`
    nodes.push({ opType, inputs, outputs: [out], name: out, ...(attributes ? { attributes } : {}) })
    return out
  }
  const param = (name: string, dims: ReadonlyArray<number>, data: Float32Array) => {
    inits.push(f32(name, dims, data))
    return name
  }
  const layerNorm = (x: string, prefix: string) =>
    op("LayerNormalization", [x, param(`${prefix}.weight`, [D], w.get(`${prefix}.weight`)!), param(`${prefix}.bias`, [D], w.get(`${prefix}.bias`)!)], { axis: -1, epsilon: { float: 1e-5 } })
  const linear = (x: string, name: string, W: Float32Array, b: Float32Array, inDim: number, outDim: number) =>
    op("Add", [op("MatMul", [x, param(`${name}.weight`, [inDim, outDim], W)]), param(`${name}.bias`, [outDim], b)])

  // x = wte[ids] + wpe[0..T−1]
  const T = op("Gather", [op("Shape", ["input_ids"]), "one_i"], { axis: 0 })
  const pos = op("Range", ["zero_i", T, "one_i"])
  let x = op("Add", [op("Gather", ["wte", "input_ids"], { axis: 0 }), op("Gather", ["wpe", pos], { axis: 0 })])
  // additive mask [B, 1, T, T]: key j visible to query t iff j ≤ t and j is a real token
  const causal = op("LessOrEqual", [op("Unsqueeze", [pos, "axis0"]), op("Unsqueeze", [pos, "axis1"])])
  const keyReal = op("Unsqueeze", [op("Cast", ["attention_mask"], { to: 9 /* BOOL */ }), "axes12"])
  const mask = op("Where", [op("And", [causal, keyReal]), "zero_f", "neg_inf"])

  for (let i = 0; i < nLayers; i++) {
    const pre = `h.${i}.`
    // x = x + attn(ln_1(x))
    const h = layerNorm(x, pre + "ln_1")
    const Wa = w.get(pre + "attn.c_attn.weight")!
    const ba = w.get(pre + "attn.c_attn.bias")!
    const proj = (k: number, name: string) =>
      op("Reshape", [linear(h, `${pre}attn.${name}`, columns(Wa, D, 3 * D, k * D, (k + 1) * D), ba.slice(k * D, (k + 1) * D), D, D), "heads_shape"])
    const q = op("Transpose", [proj(0, "q")], { perm: [0, 2, 1, 3] }) // [B, H, T, hd]
    const kT = op("Transpose", [proj(1, "k")], { perm: [0, 2, 3, 1] }) // [B, H, hd, T]
    const v = op("Transpose", [proj(2, "v")], { perm: [0, 2, 1, 3] })
    const att = op("Softmax", [op("Add", [op("Mul", [op("MatMul", [q, kT]), "att_scale"]), mask])], { axis: -1 })
    const y = op("Reshape", [op("Transpose", [op("MatMul", [att, v])], { perm: [0, 2, 1, 3] }), "merge_shape"])
    x = op("Add", [x, linear(y, pre + "attn.c_proj", w.get(pre + "attn.c_proj.weight")!, w.get(pre + "attn.c_proj.bias")!, D, D)])
    // x = x + mlp(ln_2(x)), gelu(f) = 0.5 f (1 + tanh(√(2/π)(f + 0.044715 f³)))
    const f = linear(layerNorm(x, pre + "ln_2"), pre + "mlp.c_fc", w.get(pre + "mlp.c_fc.weight")!, w.get(pre + "mlp.c_fc.bias")!, D, 4 * D)
    const inner = op("Mul", [op("Add", [f, op("Mul", [op("Pow", [f, "three"]), "gelu_c"])]), "sqrt_2_pi"])
    const g = op("Mul", [op("Mul", [f, "half"]), op("Add", [op("Tanh", [inner]), "one_f"])])
    x = op("Add", [x, linear(g, pre + "mlp.c_proj", w.get(pre + "mlp.c_proj.weight")!, w.get(pre + "mlp.c_proj.bias")!, 4 * D, D)])
  }
  // r = ln_f(x) · score at the last real token: index Σ attention_mask − 1
  const r = op("Squeeze", [op("MatMul", [layerNorm(x, "ln_f"), "score"]), "axis2"]) // [B, T]
  const last = op("Sub", [op("ReduceSum", ["attention_mask", "axis1"], { keepdims: 1 }), "one_i"]) // [B, 1]
  nodes.push({ opType: "GatherElements", inputs: [r, last], outputs: ["logits"], name: "pool_last_token", attributes: { axis: 1 } })
  return {
    name: "odpo_reward_model",
    nodes,
    initializers: inits,
    inputs: [
      { name: "input_ids", dataType: "int64", shape: ["batch", "sequence"] },
      { name: "attention_mask", dataType: "int64", shape: ["batch", "sequence"] }
    ],
    outputs: [{ name: "logits", dataType: "float32", shape: ["batch", 1] }]
  }
}

/** Write `<outFile>` (ONNX) and tokenizer.json beside it. Returns the tokenizer file's path. */
export const exportRewardModel = (model: RewardModel, tokenizer: Tokenizer.Tokenizer, outFile: string) =>
  Effect.gen(function*() {
    const tokenizerFile = join(dirname(outFile), "tokenizer.json")
    const fail = (cause: unknown) => new Errors.OnnxError({ message: `cannot write the reward model to ${outFile}: ${String(cause)}`, file: outFile, cause })
    yield* Effect.tryPromise({
      try: async () => {
        await mkdir(dirname(outFile), { recursive: true })
        await writeFile(outFile, OnnxWriter.encodeOnnxModel(await rewardModelGraph(model), { opset: 17, producer: "odpo" }))
      },
      catch: fail
    })
    yield* TokenizerFile.saveTokenizer(tokenizerFile, tokenizer).pipe(Effect.mapError(fail))
    return tokenizerFile
  })

export interface TrainRewardModelOptions extends FitOptions {
  /** The .onnx file to write; tokenizer.json goes beside it. */
  readonly outFile: string
}

export interface TrainRewardModelResult {
  readonly outFile: string
  readonly tokenizerFile: string
  readonly validationAccuracy: number
  readonly trainAccuracy: number
  readonly losses: ReadonlyArray<number>
}

/** `odpo train-rm`: fit a Bradley–Terry reward model and export it for the scorer. */
export const trainRewardModel = Effect.fn("RewardModel.train")(function*(o: TrainRewardModelOptions) {
  const fit = yield* fitRewardModel(o)
  const tokenizerFile = yield* exportRewardModel(fit.model, o.tokenizer, o.outFile).pipe(Effect.ensuring(Effect.sync(() => fit.model.dispose())))
  return {
    outFile: o.outFile, tokenizerFile, validationAccuracy: fit.validationAccuracy, trainAccuracy: fit.trainAccuracy, losses: fit.losses
  } satisfies TrainRewardModelResult
})
