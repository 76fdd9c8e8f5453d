/**
 * The Trainer service (core's tag) on a policy engine: preference rounds with any objective of
 * the table, SFT, reference log-probs, sequence statistics and the TR-DPO reference update. The
 * engine (tfjs by default) computes log-probs and gradients; the loop, AdamW and the objectives
 * are the same on every engine.
 */
import { type Domain, Trainer as CoreTrainer } from "@odpo/core"
import { type CausalLm, Checkpoint, LoadedModels, type PolicyEngine, TfjsPolicyEngine } from "@odpo/model"
import { Effect, Layer } from "effect"
import { demonstrationObjective, objectives, sftPlan, sftTraining } from "./objectives/index.ts"
import { emaReferenceWith, loadWith, makeReferenceCache, sequenceStatsWith, tokenLogpsWith } from "./Reference.ts"
import { checkLoss, checkSequences, checkTraining } from "./TrainingChecks.ts"
import { type MicroBatchGradients, planSteps, policyGradients, type StepPlan, trainLoop } from "./TrainLoop.ts"
import { Errors } from "@odpo/core"

/** Train a clone of `start` (the loaded model is shared) and write it; a failed loop writes nothing. */
const trainAndSave = <Item>(o: {
  readonly start: Checkpoint.LoadedCheckpoint
  readonly items: ReadonlyArray<Item>
  readonly gradients: (model: CausalLm.CausalLm) => MicroBatchGradients<Item>
  readonly training: Parameters<typeof trainLoop>[0]["training"]
  readonly seed: number
  readonly root: string
  readonly label: string
  readonly plan?: ReadonlyArray<StepPlan>
}) =>
  Effect.acquireUseRelease(
    Effect.promise(() => o.start.model.clone()),
    (model) =>
      Effect.gen(function*() {
        const steps = yield* trainLoop({
          variables: model.variables(), items: o.items, gradients: o.gradients(model), training: o.training,
          seed: o.seed, label: o.label, ...(o.plan ? { plan: o.plan } : {})
        })
        const checkpoint = yield* Checkpoint.saveCheckpoint(o.root, model, o.start.tokenizer, { meta: { parent: o.start.ref.id, label: o.label } })
        return { checkpoint, steps } satisfies CoreTrainer.TrainResult
      }),
    (model) => Effect.sync(() => model.dispose())
  )

/** The Trainer on `engine`, with a reference-log-prob cache owned by the layer. */
export const make = (engine: PolicyEngine.PolicyEngine) =>
  Effect.gen(function*() {
    const models = yield* LoadedModels.LoadedModels
    const load = loadWith(models)
    const reference = makeReferenceCache(engine, models)
    const referenceTokenLogps = tokenLogpsWith(engine, models)

    const train = Effect.fn("Trainer.train")(function*(request: CoreTrainer.TrainRequest) {
      yield* checkLoss(request.loss)
      yield* checkTraining(request.training)
      const start = yield* load(request.policy)
      const objective = objectives[request.loss.type](request.loss)
      // KTO's z₀ needs π_ref on mismatched pairs; without a named reference the starting policy stands in.
      const ref = request.reference ?? request.policy
      const items = yield* objective.items({ pairs: request.pairs, samples: request.samples ?? [] }, {
        contextLength: start.config.contextLength,
        vocabSize: start.config.vocabSize,
        referenceLogps: (seqs: ReadonlyArray<Domain.Sequence>) => reference.referenceLogps(ref, seqs),
        referenceTokenLogps: (seqs: ReadonlyArray<Domain.Sequence>) => referenceTokenLogps(ref, seqs),
        seed: request.seed
      })
      const t = request.training
      const plan = planSteps(items.length, t.epochs, t.batchSize, t.gradAccum, request.seed)
      const result = yield* trainAndSave({
        start, items, gradients: (model) => policyGradients(engine, model, start.tokenizer.padId, objective),
        training: t, seed: request.seed, root: request.checkpointRoot, label: request.label ?? "train", plan
      })
      return { ...result, stepItems: plan.map((step) => step.microBatches.flat()) } satisfies CoreTrainer.TrainResult
    })

    const sft = Effect.fn("Trainer.sft")(function*(request: CoreTrainer.SftRequest) {
      const start = yield* load(request.policy)
      if (request.demonstrations.length === 0) {
        return yield* new Errors.InvalidInput({ message: "request.demonstrations is empty: SFT needs at least one demonstration" })
      }
      yield* checkSequences(request.demonstrations, start.config, (i) => `demonstrations[${i}]`, "raise policy.model.contextLength (demonstrations are the task's, not sampled)")
      return yield* trainAndSave({
        start, items: request.demonstrations,
        gradients: (model) => policyGradients(engine, model, start.tokenizer.padId, demonstrationObjective),
        training: sftTraining(request.sft), seed: request.seed, root: request.checkpointRoot, label: request.label ?? "sft",
        plan: sftPlan(request.demonstrations.length, request.sft.steps, request.sft.batchSize, request.seed)
      })
    })

    return CoreTrainer.Trainer.of({
      train,
      sft,
      referenceLogps: reference.referenceLogps,
      sequenceStats: sequenceStatsWith(engine, models),
      emaReference: emaReferenceWith(models)
    })
  })

/** The Trainer on `engine`; it borrows models from LoadedModels. */
export const layerWith = (engine: PolicyEngine.PolicyEngine): Layer.Layer<CoreTrainer.Trainer, never, LoadedModels.LoadedModels> =>
  Layer.effect(CoreTrainer.Trainer, make(engine))

/** The Trainer on tfjs (whichever tfjs backend is active). */
export const layer = layerWith(TfjsPolicyEngine.tfjsPolicyEngine)
