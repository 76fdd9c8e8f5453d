/**
 * The model shapes the onnx benches time against PyTorch: the reference model (what every
 * experiment here trains), GPT-2 small's (V 50257, D 768, 12 layers, 12 heads) and SmolLM2-135M's
 * (a Llama: V 49152, D 576, 30 layers, 9 heads / 3 KV heads, SwiGLU 1536, tied) at T 128. The
 * workloads are the same on both sides: the PyTorch scripts take `--shape` with these numbers.
 */
import { Architectures, type CausalLm, type Llama } from "@odpo/model"

export interface BenchShape {
  readonly name: string
  readonly config: CausalLm.ModelConfig
  /** Tokens per sequence (prompt + completion), and the prompt's share. */
  readonly T: number
  readonly prompt: number
  /** Sequences per log-prob forward, and pairs per DPO step (2 × pairs sequences). */
  readonly forwardBatch: number
  readonly pairs: number
  /** Timed calls after one warm-up: forward, DPO step. */
  readonly forwardReps: number
  readonly dpoReps: number
}

export const reference: BenchShape = {
  name: "reference",
  config: { vocabSize: 64, contextLength: 64, dModel: 128, nLayers: 4, nHeads: 4, dropout: 0 },
  T: 64,
  prompt: 16,
  forwardBatch: 32,
  pairs: 16,
  forwardReps: 10,
  dpoReps: 5
}

/** GPT-2 small at T 128, batch 8 (4 pairs): one DPO step is ~10 s a side on 2 cores. */
export const gpt2Small: BenchShape = {
  name: "GPT-2 small",
  config: { vocabSize: 50257, contextLength: 1024, dModel: 768, nLayers: 12, nHeads: 12, dropout: 0 },
  T: 128,
  prompt: 16,
  forwardBatch: 8,
  pairs: 4,
  forwardReps: 2,
  dpoReps: 2
}

const smolLm2Config: Llama.LlamaConfig = {
  architecture: "llama", vocabSize: 49152, contextLength: 8192, dModel: 576, nLayers: 30, nHeads: 9, nKvHeads: 3, headDim: 64,
  intermediateSize: 1536, ropeTheta: 100000, ropeScaling: null, rmsNormEps: 1e-5, tieWordEmbeddings: true,
  qkvBias: false, oBias: false, qkNorm: false, dropout: 0
}

/** SmolLM2-135M's shape (its config.json) at T 128, batch 8 (4 pairs), as GPT-2 small's. */
export const smolLm2: BenchShape = { ...gpt2Small, name: "SmolLM2-135M", config: smolLm2Config }

/**
 * The PyTorch scripts' shape flags: --shape V,D,L,H,T,B for torch_model.py and V,D,L,H,T,PAIRS for
 * torch_dpo.py; a Llama adds --arch llama --llama KV,I,θ.
 */
export const torchShape = (s: BenchShape, batch: number): Array<string> => {
  const c = s.config
  const shape = ["--shape", [c.vocabSize, c.dModel, c.nLayers, c.nHeads, s.T, batch].join(",")]
  return "nKvHeads" in c ? [...shape, "--arch", "llama", "--llama", [c.nKvHeads, c.intermediateSize, c.ropeTheta].join(",")] : shape
}

/**
 * Matmul FLOPs of one forward over B sequences of T tokens, as both sides compute it: per token
 * 2 × every body matrix's size (GPT-2: 24·D² a layer; a Llama: q, k, v, o and the three SwiGLU
 * matrices), per layer and token 4·T·H·hd (scores and att·v over all T keys), and the head over
 * the T − 1 predicting positions.
 */
export const forwardFlops = (s: BenchShape, B: number): number => {
  const { dModel: D, nLayers: L, vocabSize: V } = s.config
  const { kvHeads, headDim } = Architectures.cacheGeometry(s.config)
  const queryWidth = ("nKvHeads" in s.config ? s.config.nHeads : kvHeads) * headDim
  const embeddings = new Set(["wte.weight", "wpe.weight", "model.embed_tokens.weight", "lm_head.weight"])
  const body = Architectures.parameterShapes(s.config).filter(([n, sh]) => sh.length === 2 && !embeddings.has(n)).reduce((a, [, [r, c]]) => a + r! * c!, 0)
  return B * s.T * (2 * body + L * 4 * s.T * queryWidth) + B * (s.T - 1) * 2 * D * V
}
