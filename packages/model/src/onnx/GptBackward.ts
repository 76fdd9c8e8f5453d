/**
 * The GPT's backward pass written out op by op, as llm.c writes it: from upstream gradients of the
 * masked token log-probs back through the tied head, ln_f, every block (MLP, then attention) and
 * the embeddings, to every parameter's gradient. The forward values come from GptGraph.forward.
 */
import type { GptConfig } from "../Gpt.ts"
import type { BlockValues, ForwardValues, LayerNormValues, Params } from "./GptGraph.ts"
import type { OnnxAttribute } from "../OnnxWriter.ts"
import { type GraphBuilder, ONNX_TYPE } from "./GraphBuilder.ts"

export interface BackwardInputs {
  /** int32 [B, T], right-padded, positions 0…T−1 */
  readonly ids: string
  /** float32 [B, T−1]: 1 where ids[:, t+1] is a completion token */
  readonly targetMask: string
  /** float32 [B, T−1]: dL/d(token log-prob) */
  readonly upstream: string
  /**
   * float32 [B, T−1, V]: the forward's next-token log-distributions, when the caller has them
   * (the head's softmax is then their exp); absent, the head's logits are computed again.
   */
  readonly logp?: string
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI)
const GELU_A = 0.044715
const INT_MAX = 2 ** 31 - 1

/**
 * Appends the backward pass; returns each parameter's gradient by GPT-2 name. Every gradient's
 * last op is named `gradName(name)` exactly, so the caller can output it without a copy.
 */
export const backward = (
  b: GraphBuilder,
  p: Params,
  config: GptConfig,
  fwd: ForwardValues,
  inputs: BackwardInputs,
  gradName: (name: string) => string
): Map<string, string> => {
  const { dModel: D, nHeads: H, vocabSize: V, contextLength: C } = config
  const hd = D / H
  const grads = new Map<string, string>()
  const named = (param: string) => {
    grads.set(param, gradName(param))
    return gradName(param)
  }
  const to2d = (x: string, cols: number) => b.op("Reshape", [x, b.ints([-1, cols])])
  const sumRows = (x: string, name: string) => b.op("ReduceSum", [x, b.ints([0, 1])], { keepdims: 0 }, named(name), true)
  const meanLast = (x: string) => b.op("ReduceMean", [x], { axes: [-1], keepdims: 1 })

  /** y = x W + b (W [in, out]): dW = xᵀ dy, db = Σ dy, and returns dx = scale · dy Wᵀ (Gemm's alpha). */
  const linearBackward = (x: string, dy: string, prefix: string, inDim: number, outDim: number, scale = 1): string => {
    const x2 = to2d(x, inDim)
    const dy2 = to2d(dy, outDim)
    b.op("Gemm", [x2, dy2], { transA: 1 }, named(`${prefix}.weight`), true)
    sumRows(dy, `${prefix}.bias`)
    const attributes: Record<string, OnnxAttribute> = scale === 1 ? { transB: 1 } : { transB: 1, alpha: { float: scale } }
    return b.op("Reshape", [b.op("Gemm", [dy2, p(`${prefix}.weight`)], attributes), b.op("Shape", [x])], undefined, `${prefix}.dx`)
  }

  /** llm.c's layernorm_backward: dx = (dnorm − mean(dnorm) − norm · mean(dnorm · norm)) · rstd. */
  const layerNormBackward = (ln: LayerNormValues, dy: string, prefix: string): string => {
    const norm = b.op("Mul", [b.op("Sub", [ln.x, ln.mean]), ln.rstd], undefined, `${prefix}.norm`)
    sumRows(b.op("Mul", [dy, norm]), `${prefix}.weight`)
    sumRows(dy, `${prefix}.bias`)
    const dnorm = b.op("Mul", [dy, p(`${prefix}.weight`)])
    const centred = b.op("Sub", [b.op("Sub", [dnorm, meanLast(dnorm)]), b.op("Mul", [norm, meanLast(b.op("Mul", [dnorm, norm]))])])
    return b.op("Mul", [centred, ln.rstd], undefined, `${prefix}.dx`)
  }

  const swapLast = (x: string) => b.op("Transpose", [x], { perm: [0, 1, 3, 2] })
  /** [B, H, T, hd] → [B, T, D] */
  const mergeHeads = (x: string) => b.op("Reshape", [b.op("Transpose", [x], { perm: [0, 2, 1, 3] }), b.ints([0, 0, D])])

  /** Block i backward: dx_out (gradient of the block's output) → dx_in. */
  const blockBackward = (i: number, s: BlockValues, dOut: string): string => {
    const pre = `h.${i}`
    // MLP: x_out = x_mid + c_proj(gelu(c_fc(ln_2(x_mid))))
    // gelu'(f) = 0.5 [(1 + t) + f (1 − t²) √(2/π) (1 + 3 a f²)],  t = tanh(√(2/π)(f + a f³));
    // the 0.5 rides on c_proj's dx Gemm (alpha), and 1 − t² = (1 + t)(1 − t) = (1 + t)(2 − (1 + t))
    const halfDGelu = linearBackward(s.gelu, dOut, `${pre}.mlp.c_proj`, 4 * D, D, 0.5)
    const sech2 = b.op("Mul", [s.onePlusTanh, b.op("Sub", [b.scalar(2), s.onePlusTanh])])
    const inner = b.op("Add", [b.op("Mul", [s.fc2, b.scalar(3 * GELU_A * SQRT_2_OVER_PI)]), b.scalar(SQRT_2_OVER_PI)])
    const twiceSlope = b.op("Add", [s.onePlusTanh, b.op("Mul", [b.op("Mul", [s.fc, sech2]), inner])])
    const dFc = b.op("Mul", [halfDGelu, twiceSlope], undefined, `${pre}.mlp.dfc`)
    const dLn2 = linearBackward(s.ln2.y, dFc, `${pre}.mlp.c_fc`, D, 4 * D)
    const dMid = b.op("Add", [dOut, layerNormBackward(s.ln2, dLn2, `${pre}.ln_2`)], undefined, `${pre}.dx_mid`)
    // Attention: x_mid = x_in + c_proj(merge(softmax(q kᵀ/√hd + mask) v))
    const dY = linearBackward(s.y, dMid, `${pre}.attn.c_proj`, D, D)
    const dYh = b.op("Transpose", [b.op("Reshape", [dY, b.ints([0, 0, H, hd])])], { perm: [0, 2, 1, 3] })
    const dAtt = b.op("MatMul", [dYh, swapLast(s.v)])
    const dV = b.op("MatMul", [swapLast(s.att), dYh])
    // softmax backward: dscores = att ⊙ (datt − Σ_j datt ⊙ att)
    const dScores = b.op("Mul", [s.att, b.op("Sub", [dAtt, b.op("ReduceSum", [b.op("Mul", [dAtt, s.att]), b.ints([-1])], { keepdims: 1 })])], undefined, `${pre}.attn.dscores`)
    // scores = q_s kᵀ with q_s = q/√hd: dq = (dscores k)/√hd, dk = dscoresᵀ q_s
    const dQ = b.op("Mul", [b.op("MatMul", [dScores, s.k]), b.scalar(1 / Math.sqrt(hd))])
    const dK = b.op("MatMul", [swapLast(dScores), s.q])
    const dQkv = b.op("Concat", [mergeHeads(dQ), mergeHeads(dK), mergeHeads(dV)], { axis: -1 }, `${pre}.attn.dqkv`)
    const dLn1 = linearBackward(s.ln1.y, dQkv, `${pre}.attn.c_attn`, D, 3 * D)
    return b.op("Add", [dMid, layerNormBackward(s.ln1, dLn1, `${pre}.ln_1`)], undefined, `${pre}.dx_in`)
  }

  // Head: token_logp[b,t] = mask · log_softmax(h_t wteᵀ)[y_{t+1}], so
  // dlogits = g · mask · (onehot(y_{t+1}) − softmax(logits)) at positions 0…T−2
  const hs = b.op("Slice", [fwd.hidden, b.ints([0]), b.ints([-1]), b.ints([1])], undefined, "head.h")
  const probs = inputs.logp
    ? b.op("Exp", [inputs.logp], undefined, "head.probs")
    : b.op("Softmax", [b.op("MatMul", [hs, b.op("Transpose", [p("wte.weight")], { perm: [1, 0] })])], { axis: -1 }, "head.probs")
  // as −g · softmax, then + g at each target (ScatterElements): no one-hot [B, T−1, V] to make and subtract
  const targets = b.op("Unsqueeze", [b.op("Cast", [b.op("Slice", [inputs.ids, b.ints([1]), b.ints([INT_MAX]), b.ints([1])])], { to: ONNX_TYPE.int64 }), b.ints([-1])])
  const g = b.op("Unsqueeze", [b.op("Mul", [inputs.upstream, inputs.targetMask]), b.ints([-1])], undefined, "head.g")
  const dLogits = b.op("ScatterElements", [b.op("Mul", [probs, b.op("Neg", [g])]), targets, g], { axis: -1, reduction: "add" }, "head.dlogits")
  // logits = h wteᵀ: dh = dlogits wte, d wte (head part) = dlogitsᵀ h
  const dWteHead = b.op("Gemm", [to2d(dLogits, V), to2d(hs, D)], { transA: 1 }, "head.dwte")
  // the last position predicts nothing: its gradient is zero
  const dHidden = b.op("Pad", [b.op("MatMul", [dLogits, p("wte.weight")]), b.ints([0, 0, 0, 0, 1, 0])], { mode: "constant" }, "head.dh")
  let dx = layerNormBackward(fwd.lnF, dHidden, "ln_f")
  for (let i = config.nLayers - 1; i >= 0; i--) dx = blockBackward(i, fwd.blocks[i]!, dx)
  // Embeddings: x0 = wte[ids] + wpe[0…T−1]; wte's rows accumulate (ScatterND add) onto the head's part
  const index = b.op("Unsqueeze", [b.op("Cast", [inputs.ids], { to: ONNX_TYPE.int64 }), b.ints([-1])])
  b.op("ScatterND", [dWteHead, index, dx], { reduction: "add" }, named("wte.weight"), true)
  const dPos = b.op("ReduceSum", [dx, b.ints([0])], { keepdims: 0 }) // [T, D]
  const T = b.op("Shape", [dx], { start: 1, end: 2 })
  const pads = b.op("Concat", [b.ints([0, 0]), b.op("Sub", [b.ints([C]), T]), b.ints([0])], { axis: 0 })
  b.op("Pad", [dPos, pads], { mode: "constant" }, named("wpe.weight"), true)
  return grads
}
