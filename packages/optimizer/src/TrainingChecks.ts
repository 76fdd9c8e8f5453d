/** Checks of a training request before any compute: each failure names the field or item and says what to do. */
import { type Domain, Errors, RunConfig } from "@odpo/core"
import { Effect, Schema } from "effect"

const invalid = (message: string) => Effect.fail(new Errors.InvalidInput({ message }))

/**
 * A config section as the trainer needs it, decoded by RunConfig's own schema: a config that
 * bypassed the experiment decoder meets the same rules (and messages) as one that did not.
 */
const decodedBy = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, section: string) => (value: S["Type"]): Effect.Effect<void, Errors.InvalidInput> =>
  Schema.decodeUnknownEffect(schema)(value, { onExcessProperty: "error" }).pipe(
    Effect.asVoid,
    Effect.mapError((error) => {
      const at = RunConfig.firstIssue(error.issue, value)
      return new Errors.InvalidInput({ message: `${section}${at.path}: ${at.message}` })
    })
  )

export const checkLoss: (loss: RunConfig.LossConfig) => Effect.Effect<void, Errors.InvalidInput> = decodedBy(RunConfig.LossConfig, "loss")
export const checkTraining: (t: RunConfig.TrainingConfig) => Effect.Effect<void, Errors.InvalidInput> = decodedBy(RunConfig.TrainingConfig, "training")

/** What a sequence must fit: the model's context and vocabulary. */
export interface SequenceLimits {
  readonly contextLength: number
  readonly vocabSize: number
}

/**
 * Every sequence fits the model: a prompt token to condition on, at least one completion token
 * (losses divide by |y|), prompt + completion within the context, ids inside the vocabulary.
 * `what(i)` names item i in messages, e.g. "pairs[3].chosen".
 */
export const checkSequences = (
  seqs: ReadonlyArray<Domain.Sequence>,
  config: SequenceLimits,
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
export const checkPairs = (pairs: ReadonlyArray<Domain.TrainingPair>, config: SequenceLimits): Effect.Effect<void, Errors.InvalidInput> =>
  Effect.gen(function*() {
    if (pairs.length === 0) return yield* invalid("request.pairs is empty: there are no preference pairs to train on")
    yield* checkSequences(pairs.map((p) => p.chosen), config, (i) => `pairs[${i}].chosen`)
    yield* checkSequences(pairs.map((p) => p.rejected), config, (i) => `pairs[${i}].rejected`)
    const bad = pairs.findIndex((p) => !Number.isFinite(p.refChosenLogp) || !Number.isFinite(p.refRejectedLogp))
    if (bad >= 0) {
      return yield* invalid(`pairs[${bad}]: reference log-probs must be finite numbers (got ${pairs[bad]!.refChosenLogp}, ${pairs[bad]!.refRejectedLogp}); compute them with referenceLogps`)
    }
  })
