/**
 * The Trainer service (core's tag) implemented on tfjs: preference rounds with any loss of the
 * table, SFT, reference log-probs, sequence statistics and the TR-DPO reference update.
 */
import { Effect, Layer } from "effect"
import type { Domain, RunConfig } from "@odpo/core"
import { Errors, Trainer as CoreTrainer } from "@odpo/core"
import { Checkpoint } from "@odpo/model"
import { type KtoItem, ktoObjective, type Objective, objectives } from "./Objective.ts"
import { emaReference, load, referenceLogps, sequenceStats } from "./Reference.ts"
import { sftObjective, sftPlan, sftTraining } from "./Sft.ts"
import { trainLoop } from "./Training.ts"
import { checkLoss, checkPairs, checkSequences, checkTraining } from "./Validate.ts"

/**
 * A TrainRequest may name the round's reference: KTO needs π_ref on its mismatched pairs (z₀).
 * Without it, the starting policy stands in (exact when the reference is `previous_round`).
 */
export interface TrainRequestWithReference extends CoreTrainer.TrainRequest {
  readonly reference?: Domain.CheckpointRef
}

/**
 * KTO's items: each example with a mismatched partner, its prompt followed by the completion of the
 * previous example (as TRL builds its KL dataset), cut to fit the context, and π_ref on it.
 */
const ktoItems = Effect.fn("Trainer.ktoItems")(function*(
  examples: ReadonlyArray<Domain.LabelledExample>,
  reference: Domain.CheckpointRef,
  contextLength: number
) {
  const mismatched = examples.map((e, i): Domain.Sequence => {
    const other = examples[(i + examples.length - 1) % examples.length]!.sequence.completionTokenIds
    const room = Math.max(1, contextLength - e.sequence.promptTokenIds.length)
    return { promptTokenIds: e.sequence.promptTokenIds, completionTokenIds: other.slice(0, room) }
  })
  const refs = yield* referenceLogps(reference, mismatched)
  return examples.map((example, i): KtoItem => ({ example, mismatched: mismatched[i]!, refMismatchedLogp: refs[i]! }))
})

const train = Effect.fn("Trainer.train")(function*(request: TrainRequestWithReference) {
  yield* checkLoss(request.loss)
  yield* checkTraining(request.training)
  const start = yield* load(request.policy)
  const label = request.label ?? "train"
  let items: ReadonlyArray<unknown>
  let objective: Objective<unknown>
  if (request.loss.type === "kto") {
    const examples = request.examples ?? []
    if (examples.length === 0) {
      return yield* new Errors.InvalidInput({ message: "request.examples is empty: loss.type \"kto\" trains on labelled examples (desirable or not)" })
    }
    yield* checkSequences(examples.map((e) => e.sequence), start.config, (i) => `examples[${i}].sequence`)
    items = yield* ktoItems(examples, request.reference ?? request.policy, start.config.contextLength)
    objective = ktoObjective as Objective<unknown>
  } else {
    yield* checkPairs(request.pairs, start.config)
    items = request.pairs
    objective = objectives[request.loss.type] as Objective<unknown>
  }
  return yield* trainAndSave(start, items, objective, request.loss, request.training, request.seed, request.checkpointRoot, label, undefined)
})

const sft = Effect.fn("Trainer.sft")(function*(request: CoreTrainer.SftRequest) {
  const start = yield* load(request.policy)
  if (request.demonstrations.length === 0) {
    return yield* new Errors.InvalidInput({ message: "request.demonstrations is empty: SFT needs at least one demonstration" })
  }
  yield* checkSequences(request.demonstrations, start.config, (i) => `demonstrations[${i}]`)
  const training = sftTraining(request.sft)
  const plan = sftPlan(request.demonstrations.length, request.sft.steps, request.sft.batchSize, request.seed)
  return yield* trainAndSave(
    start, request.demonstrations, sftObjective as Objective<unknown>, SFT_LOSS, training, request.seed,
    request.checkpointRoot, request.label ?? "sft", plan
  )
})

/** The loss config is unused by SFT's objective; the defaults keep the loop's signature single. */
const SFT_LOSS: RunConfig.LossConfig = {
  type: "sft", beta: 0.1, labelSmoothing: 0, simpoGamma: 1, rdpoAlpha: 0, ktoLambdaD: 1, ktoLambdaU: 1, sftWeight: 0
}

/** Train a clone of the start checkpoint (the cached model is shared) and write it; a failed loop writes nothing. */
const trainAndSave = (
  start: Checkpoint.LoadedCheckpoint,
  items: ReadonlyArray<unknown>,
  objective: Objective<unknown>,
  loss: RunConfig.LossConfig,
  training: RunConfig.TrainingConfig,
  seed: number,
  root: string,
  label: string,
  plan: Parameters<typeof trainLoop>[0]["plan"]
) =>
  Effect.acquireUseRelease(
    Effect.promise(() => start.model.clone()),
    (model) =>
      Effect.gen(function*() {
        const steps = yield* trainLoop({
          model, items, objective, padId: start.tokenizer.padId, loss, training, seed, label, ...(plan ? { plan } : {})
        })
        const checkpoint = yield* Checkpoint.saveCheckpoint(root, model, start.tokenizer, { meta: { parent: start.ref.id, label } })
        return { checkpoint, steps } satisfies CoreTrainer.TrainResult
      }),
    (model) => Effect.sync(() => model.dispose())
  )

/** The tfjs Trainer. */
export const layer = Layer.effect(
  CoreTrainer.Trainer,
  Effect.sync(() => CoreTrainer.Trainer.of({ train, sft, referenceLogps, sequenceStats, emaReference }))
)
