/** Checks of a training request before any compute: each failure names the field or item and says what to do. */
import { Effect } from "effect"
import type { Domain, RunConfig } from "@odpo/core"
import type { Gpt } from "@odpo/model"
import { Errors } from "@odpo/core"

const invalid = (message: string) => Effect.fail(new Errors.InvalidInput({ message }))

const LOSS_NAMES: ReadonlyArray<RunConfig.LossName> = ["sigmoid", "ipo", "hinge", "robust", "kto", "simpo", "rdpo", "sft"]

/** The loss config as the trainer needs it (a config that bypassed the schema decoder is checked too). */
export const checkLoss = (loss: RunConfig.LossConfig): Effect.Effect<void, Errors.InvalidInput> => {
  if (!LOSS_NAMES.includes(loss.type)) {
    return invalid(`loss.type: unknown loss ${JSON.stringify(loss.type)}; use one of ${LOSS_NAMES.join(", ")}`)
  }
  if (!(Number.isFinite(loss.beta) && loss.beta > 0)) {
    return invalid(`loss.beta must be a positive number (got ${loss.beta}); DPO's default is 0.1, SimPO's 2.0`)
  }
  if (!(loss.labelSmoothing >= 0 && loss.labelSmoothing < 0.5)) {
    return invalid(`loss.labelSmoothing must be in [0, 0.5) (got ${loss.labelSmoothing})`)
  }
  if (!(loss.sftWeight >= 0)) return invalid(`loss.sftWeight must be ≥ 0 (got ${loss.sftWeight})`)
  if (!(loss.ktoLambdaD > 0 && loss.ktoLambdaU > 0)) {
    return invalid(`loss.ktoLambdaD and loss.ktoLambdaU must be > 0 (got ${loss.ktoLambdaD}, ${loss.ktoLambdaU})`)
  }
  return Effect.void
}

export const checkTraining = (t: RunConfig.TrainingConfig): Effect.Effect<void, Errors.InvalidInput> => {
  for (const k of ["epochs", "batchSize", "gradAccum"] as const) {
    if (!(Number.isInteger(t[k]) && t[k] > 0)) return invalid(`training.${k} must be a positive integer (got ${t[k]})`)
  }
  if (!(t.learningRate > 0)) return invalid(`training.learningRate must be > 0 (got ${t.learningRate})`)
  if (!(t.maxGradNorm >= 0)) return invalid(`training.maxGradNorm must be ≥ 0 (0 = no clipping; got ${t.maxGradNorm})`)
  return Effect.void
}

/**
 * Every sequence fits the model: a prompt token to condition on, at least one completion token
 * (losses divide by |y|), prompt + completion within the context, ids inside the vocabulary.
 * `what(i)` names item i in messages, e.g. "pairs[3].chosen".
 */
export const checkSequences = (
  seqs: ReadonlyArray<Domain.Sequence>,
  config: Gpt.GptConfig,
  what: (i: number) => string,
  remedy = "lower sampling.maxNewTokens or use a model with a longer context"
): Effect.Effect<void, Errors.InvalidInput> => {
  for (let i = 0; i < seqs.length; i++) {
    const s = seqs[i]!
    const P = s.promptTokenIds.length
    const C = s.completionTokenIds.length
    if (P === 0) return invalid(`${what(i)}: the prompt is empty; it needs at least one token (BOS) to condition on`)
    if (C === 0) return invalid(`${what(i)}: the completion is empty; drop it before training`)
    if (P + C > config.contextLength) {
      return invalid(
        `${what(i)}: prompt (${P}) + completion (${C}) = ${P + C} tokens exceeds the model's context length ` +
          `${config.contextLength}; ${remedy}`
      )
    }
    for (const id of [...s.promptTokenIds, ...s.completionTokenIds]) {
      if (!(Number.isInteger(id) && id >= 0 && id < config.vocabSize)) {
        return invalid(`${what(i)}: token id ${id} is outside the model's vocabulary [0, ${config.vocabSize}); the tokenizer does not match the model`)
      }
    }
  }
  return Effect.void
}

/** Pairs: non-empty, each side fits, reference log-probs finite. */
export const checkPairs = (pairs: ReadonlyArray<Domain.TrainingPair>, config: Gpt.GptConfig): Effect.Effect<void, Errors.InvalidInput> =>
  Effect.gen(function*() {
    if (pairs.length === 0) return yield* invalid("request.pairs is empty: there are no preference pairs to train on")
    yield* checkSequences(pairs.map((p) => p.chosen), config, (i) => `pairs[${i}].chosen`)
    yield* checkSequences(pairs.map((p) => p.rejected), config, (i) => `pairs[${i}].rejected`)
    const bad = pairs.findIndex((p) => !Number.isFinite(p.refChosenLogp) || !Number.isFinite(p.refRejectedLogp))
    if (bad >= 0) {
      return yield* invalid(`pairs[${bad}]: reference log-probs must be finite numbers (got ${pairs[bad]!.refChosenLogp}, ${pairs[bad]!.refRejectedLogp}); compute them with referenceLogps`)
    }
  })
