/**
 * What an engine does with a policy besides generating: per-sequence log-probs (π_ref, no
 * gradient), statistics of completions under a policy against its reference (exact KL, entropy,
 * log-prob), and the gradient of a loss written on the policy's log-probs. The tfjs engine
 * (TfjsPolicyEngine.ts) differentiates through CausalLm; an onnxruntime engine runs its forward and
 * VJP graphs. The trainer, the reference and the evaluation never ask which.
 */
import type { Domain, Trainer } from "@odpo/core"
import type * as tf from "@tensorflow/tfjs-core"
import type { Effect } from "effect"
import type { CausalLm } from "./CausalLm.ts"

/** A micro-batch's log-probs under the policy, as the loss reads them. */
export interface SequenceLogps {
  /** Per-token log-probs of the completion tokens, [N, T−1], 0 at prompt and padding positions. */
  readonly tokens: tf.Tensor2D
  /** 1 where `tokens` holds a completion token, [N, T−1]. */
  readonly mask: tf.Tensor2D
  /** log π(y|x): Σ over each sequence's completion tokens, [N]. */
  readonly sums: tf.Tensor1D
}

export interface GradientOptions {
  readonly padId: number
  /** Dropout seed of this micro-batch (used only when the model has dropout). */
  readonly dropoutSeed: number
}

/** ∇ of a loss w.r.t. the model's variables (model.variables() order; the caller disposes them), and the loss. */
export interface Gradients {
  readonly value: tf.Scalar
  readonly grads: Array<tf.Tensor>
}

export interface PolicyEngine {
  /** The backend, as runs.backend records it. */
  readonly backend: string
  /** log π(y|x) summed over completion tokens, per sequence (no gradient). */
  readonly sequenceLogps: (model: CausalLm, seqs: ReadonlyArray<Domain.Sequence>, padId: number) => Effect.Effect<Array<number>>
  /** log π(y_t | x, y_<t) of each completion token, per sequence (no gradient): π_ref's side of a per-token KL. */
  readonly tokenLogps: (model: CausalLm, seqs: ReadonlyArray<Domain.Sequence>, padId: number) => Effect.Effect<Array<Array<number>>>
  /** Per sequence: Σ exact KL(π ‖ π_ref) over the vocabulary, Σ entropy, log π(y|x). */
  readonly sequenceStats: (
    policy: CausalLm,
    reference: CausalLm,
    seqs: ReadonlyArray<Domain.Sequence>,
    padId: number
  ) => Effect.Effect<Array<Trainer.SequenceStats>>
  /**
   * The loss on `seqs`' log-probs (training mode: dropout on) and its gradient w.r.t. every
   * variable of `model`. `loss` is a pure function of the log-prob tensors; tensors it keeps
   * (tf.keep) outlive the call, everything else is freed.
   */
  readonly gradients: (
    model: CausalLm,
    seqs: ReadonlyArray<Domain.Sequence>,
    loss: (logps: SequenceLogps) => tf.Scalar,
    options: GradientOptions
  ) => Effect.Effect<Gradients>
}
