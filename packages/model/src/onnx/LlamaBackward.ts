/**
 * The Llama family's backward pass written out op by op, as GptBackward writes the GPT's: from
 * upstream gradients of the masked token log-probs back through the LM head (tied or not), the
 * final RMSNorm, every block (SwiGLU MLP, then grouped-query attention with RoPE, Qwen3's q/k
 * norms and Qwen2's biases) and the embedding, to every parameter's gradient. The forward values
 * come from LlamaGraph.forward.
 */
import type { LlamaConfig } from "../Llama.ts"
import type { BackwardInputs } from "./GptBackward.ts"
import type { Params } from "./GptGraph.ts"
import { type GraphBuilder, ONNX_TYPE } from "./GraphBuilder.ts"
import { type LlamaBlockValues, type LlamaForwardValues, type RmsNormValues, rotateHalf } from "./LlamaGraph.ts"

const INT_MAX = 2 ** 31 - 1

/**
 * Appends the backward pass; returns each parameter's gradient by Hugging Face name. Every
 * gradient's last op is named `gradName(name)` exactly, so the caller can output it without a copy.
 */
export const backward = (
  b: GraphBuilder,
  p: Params,
  config: LlamaConfig,
  fwd: LlamaForwardValues,
  inputs: BackwardInputs,
  gradName: (name: string) => string
): Map<string, string> => {
  const { dModel: D, nHeads: H, nKvHeads: Hkv, headDim: hd, vocabSize: V } = config
  const grads = new Map<string, string>()
  const named = (param: string) => {
    grads.set(param, gradName(param))
    return gradName(param)
  }
  const to2d = (x: string, cols: number) => b.op("Reshape", [x, b.ints([-1, cols])])
  const sumTo = (x: string, axes: ReadonlyArray<number>, name: string) => b.op("ReduceSum", [x, b.ints(axes)], { keepdims: 0 }, named(name), true)

  /** y = x Wᵀ + b (nn.Linear, W [out, in]): dW = dyᵀ x, db = Σ dy; returns dx = dy W. */
  const linearBackward = (x: string, dy: string, prefix: string, inDim: number, outDim: number, bias: boolean): string => {
    b.op("Gemm", [to2d(dy, outDim), to2d(x, inDim)], { transA: 1 }, named(`${prefix}.weight`), true)
    if (bias) sumTo(dy, [0, 1], `${prefix}.bias`)
    return b.op("MatMul", [dy, p(`${prefix}.weight`)], undefined, `${prefix}.dx`)
  }

  /**
   * y = w ⊙ n, n = x · r, r = 1/sqrt(mean(x²) + ε): dw = Σ dy ⊙ n over `axes` (all but the last),
   * and with dn = dy ⊙ w, dx = r (dn − n · mean(dn ⊙ n)) (the mean over the normalised axis).
   */
  const rmsNormBackward = (s: RmsNormValues, dy: string, weight: string, axes: ReadonlyArray<number>): string => {
    sumTo(b.op("Mul", [dy, s.norm]), axes, weight)
    const dn = b.op("Mul", [dy, p(weight)])
    const meanDot = b.op("ReduceMean", [b.op("Mul", [dn, s.norm])], { axes: [-1], keepdims: 1 })
    return b.op("Mul", [b.op("Sub", [dn, b.op("Mul", [s.norm, meanDot])]), s.rstd], undefined, `${weight}.dx`)
  }

  /** y = x·cos + rotate_half(x)·sin; rotate_half's transpose is −rotate_half, so dx = dy·cos − rotate_half(dy·sin). */
  const ropeBackward = (dy: string) => b.op("Sub", [b.op("Mul", [dy, fwd.cos]), rotateHalf(b, b.op("Mul", [dy, fwd.sin]), hd)])

  /** [B, heads, T, hd] → [B, T, heads·hd], through the per-head norm's backward (Qwen3: `norm` and its weight) where there is one. */
  const headsBackward = (d: string, heads: number, norm?: { readonly values: RmsNormValues; readonly weight: string }) => {
    const perToken = b.op("Transpose", [d], { perm: [0, 2, 1, 3] }) // [B, T, heads, hd]
    const dSplit = norm ? rmsNormBackward(norm.values, perToken, norm.weight, [0, 1, 2]) : perToken
    return b.op("Reshape", [dSplit, b.ints([0, 0, heads * hd])])
  }

  const swapLast = (x: string) => b.op("Transpose", [x], { perm: [0, 1, 3, 2] })

  /** Block i backward: dx_out (gradient of the block's output) → dx_in. */
  const blockBackward = (i: number, s: LlamaBlockValues, dOut: string): string => {
    const pre = `model.layers.${i}`
    const a = `${pre}.self_attn`
    const I = config.intermediateSize
    // MLP: x_out = x_mid + down(silu(g) ⊙ u), g = gate(h₂), u = up(h₂), silu(g) = g σ(g),
    // silu'(g) = σ(g) (1 + g (1 − σ(g)))
    const dAct = linearBackward(s.act, dOut, `${pre}.mlp.down_proj`, I, D, false)
    const dUp = b.op("Mul", [dAct, b.op("Mul", [s.gate, s.sigmoid])])
    const siluSlope = b.op("Mul", [s.sigmoid, b.op("Add", [b.scalar(1), b.op("Mul", [s.gate, b.op("Sub", [b.scalar(1), s.sigmoid])])])])
    const dGate = b.op("Mul", [b.op("Mul", [dAct, s.up]), siluSlope], undefined, `${pre}.mlp.dgate`)
    const dH2 = b.op("Add", [
      linearBackward(s.rms2.y, dGate, `${pre}.mlp.gate_proj`, D, I, false),
      linearBackward(s.rms2.y, dUp, `${pre}.mlp.up_proj`, D, I, false)
    ])
    const dMid = b.op("Add", [dOut, rmsNormBackward(s.rms2, dH2, `${pre}.post_attention_layernorm.weight`, [0, 1])], undefined, `${pre}.dx_mid`)
    // Attention: x_mid = x_in + o_proj(merge(softmax(q kᵀ/√hd + mask) v)), grouped by KV head
    const dY = linearBackward(s.y, dMid, `${a}.o_proj`, H * hd, D, config.oBias)
    // [B, T, H·hd] → [B, H, T, hd] → [B, H_kv, n·T, hd]: the query group of each KV head contiguous
    const dYg = b.op("Reshape", [b.op("Transpose", [b.op("Reshape", [dY, b.ints([0, 0, H, hd])])], { perm: [0, 2, 1, 3] }), b.ints([0, Hkv, -1, hd])])
    const dAtt = b.op("MatMul", [dYg, swapLast(s.v)])
    // dv = attᵀ dy over the group's n·T query rows: the KV head's gradient summed over its query heads
    const dV = b.op("MatMul", [swapLast(s.att), dYg])
    // softmax backward: dscores = att ⊙ (datt − Σ_j datt ⊙ att)
    const dScores = b.op("Mul", [s.att, b.op("Sub", [dAtt, b.op("ReduceSum", [b.op("Mul", [dAtt, s.att]), b.ints([-1])], { keepdims: 1 })])], undefined, `${a}.dscores`)
    // scores = q_s kᵀ with q_s = q/√hd: dq = (dscores k)/√hd, dk = dscoresᵀ q_s (summed over the group)
    const dQ = b.op("Reshape", [b.op("Mul", [b.op("MatMul", [dScores, s.k]), b.scalar(1 / Math.sqrt(hd))]), b.ints([0, H, -1, hd])])
    const dK = b.op("MatMul", [swapLast(dScores), s.grouped])
    const dQLin = headsBackward(ropeBackward(dQ), H, s.qNorm && { values: s.qNorm, weight: `${a}.q_norm.weight` })
    const dKLin = headsBackward(ropeBackward(dK), Hkv, s.kNorm && { values: s.kNorm, weight: `${a}.k_norm.weight` })
    const dVLin = headsBackward(dV, Hkv)
    const dH1 = b.op("Add", [
      b.op("Add", [
        linearBackward(s.rms1.y, dQLin, `${a}.q_proj`, D, H * hd, config.qkvBias),
        linearBackward(s.rms1.y, dKLin, `${a}.k_proj`, D, Hkv * hd, config.qkvBias)
      ]),
      linearBackward(s.rms1.y, dVLin, `${a}.v_proj`, D, Hkv * hd, config.qkvBias)
    ])
    return b.op("Add", [dMid, rmsNormBackward(s.rms1, dH1, `${pre}.input_layernorm.weight`, [0, 1])], undefined, `${pre}.dx_in`)
  }

  // Head: token_logp[b,t] = mask · log_softmax(h_t Wᵀ)[y_{t+1}], so
  // dlogits = g · mask · (onehot(y_{t+1}) − softmax(logits)) at positions 0…T−2 (as GptBackward)
  const embed = "model.embed_tokens.weight"
  const head = config.tieWordEmbeddings ? embed : "lm_head.weight"
  const hs = b.op("Slice", [fwd.hidden, b.ints([0]), b.ints([-1]), b.ints([1])], undefined, "head.h")
  const probs = inputs.logp
    ? b.op("Exp", [inputs.logp], undefined, "head.probs")
    : b.op("Softmax", [b.op("com.microsoft:FusedMatMul", [hs, p(head)], { transB: 1 })], { axis: -1 }, "head.probs")
  const targets = b.op("Unsqueeze", [b.op("Cast", [b.op("Slice", [inputs.ids, b.ints([1]), b.ints([INT_MAX]), b.ints([1])])], { to: ONNX_TYPE.int64 }), b.ints([-1])])
  const g = b.op("Unsqueeze", [b.op("Mul", [inputs.upstream, inputs.targetMask]), b.ints([-1])], undefined, "head.g")
  const dLogits = b.op("ScatterElements", [b.op("Mul", [probs, b.op("Neg", [g])]), targets, g], { axis: -1, reduction: "add" }, "head.dlogits")
  // logits = h Wᵀ: dW = dlogitsᵀ h (lm_head's whole gradient, or the tied embedding's head part), dh = dlogits W
  const dHead = b.op("Gemm", [to2d(dLogits, V), to2d(hs, D)], { transA: 1 }, config.tieWordEmbeddings ? "head.dembed" : named(head), !config.tieWordEmbeddings)
  // the last position predicts nothing: its gradient is zero
  const dHidden = b.op("Pad", [b.op("MatMul", [dLogits, p(head)]), b.ints([0, 0, 0, 0, 1, 0])], { mode: "constant" }, "head.dh")
  let dx = rmsNormBackward(fwd.norm, dHidden, "model.norm.weight", [0, 1])
  for (let i = config.nLayers - 1; i >= 0; i--) dx = blockBackward(i, fwd.blocks[i]!, dx)
  // Embedding: x0 = embed[ids]; its rows accumulate (ScatterND add) onto the head's part, or onto zeros when untied
  const base = config.tieWordEmbeddings ? dHead : b.op("Expand", [b.scalar(0), b.op("Shape", [p(embed)])], undefined, "embed.zeros")
  const index = b.op("Unsqueeze", [b.op("Cast", [inputs.ids], { to: ONNX_TYPE.int64 }), b.ints([-1])])
  b.op("ScatterND", [base, index, dx], { reduction: "add" }, named(embed), true)
  return grads
}
