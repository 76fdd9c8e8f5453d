/**
 * The two model shapes the onnx benches time against PyTorch: the reference model (what every
 * experiment here trains) and GPT-2 small's (V 50257, D 768, 12 layers, 12 heads) at T 128. The
 * workloads are the same on both sides: the PyTorch scripts take `--shape` with these numbers.
 */
import type { Gpt } from "@odpo/model"

export interface BenchShape {
  readonly name: string
  readonly config: Gpt.GptConfig
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

/** The PyTorch scripts' --shape: V,D,L,H,T,B for torch_model.py and V,D,L,H,T,PAIRS for torch_dpo.py. */
export const torchShape = (s: BenchShape, batch: number): string =>
  [s.config.vocabSize, s.config.dModel, s.config.nLayers, s.config.nHeads, s.T, batch].join(",")

/**
 * Matmul FLOPs of one forward over B sequences of T tokens, as both sides compute it: per layer
 * and token 24·D² (qkv, proj, fc, mlp proj) and 4·T·D (scores and att·v over all T keys), and
 * the tied head over the T − 1 predicting positions.
 */
export const forwardFlops = (s: BenchShape, B: number): number => {
  const { dModel: D, nLayers: L, vocabSize: V } = s.config
  return B * s.T * L * (24 * D * D + 4 * s.T * D) + B * (s.T - 1) * 2 * D * V
}
