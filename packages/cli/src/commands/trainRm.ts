/**
 * `odpo train-rm CONFIG`: InstructGPT stage 2 — a Bradley–Terry reward model (GPT trunk + scalar
 * head) fit on preference pairs and exported as an ONNX file the scorer loads
 * (`{"type": "onnx", "path": …}`). Pairs come from the task (two demonstrations per prompt,
 * labelled by the gold reward, ties dropped) or from a stored run's pairs.
 */
import { Errors, RunConfig, RunStore, Seeds, Tasks } from "@odpo/core"
import { Console, Effect, Option, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { dirname, join } from "node:path"
import { noteInterrupt } from "../Errors.ts"
import { layerTerminal } from "../ProgressBar.ts"
import { storeLayer } from "../Services.ts"
import { engineFlag, readConfigText, useBackend } from "./shared.ts"

const def = RunConfig.withDefault

export const TrainRmConfig = Schema.Struct({
  /** The built-in task whose tokenizer (and, for source "task", demonstrations and gold reward) is used; task "prompts" has neither. */
  task: Schema.Struct({ ...RunConfig.TaskConfig.fields, name: Schema.Literals(["bandit", "sentiment", "length", "arith", "order"]) }),
  /** "task": pairs labelled by the task's gold reward; or {run, db?}: a stored run's pairs. */
  source: def(Schema.Union([Schema.Literal("task"), Schema.Struct({ run: Schema.String, db: def(Schema.String, RunStore.defaultDbFile) })]), "task"),
  /** Pairs drawn from the task (source "task"). */
  pairs: def(Schema.Int.check(Schema.isGreaterThan(1)), 2000),
  /** The trunk; vocabSize 0 = the task tokenizer's. */
  model: def(RunConfig.ModelConfig, {}),
  /** A checkpoint (odpo's or a Hugging Face directory) whose transformer starts the trunk, its shape replacing `model`; null = a fresh one. */
  trunk: def(Schema.NullOr(Schema.String), null),
  steps: def(Schema.Int.check(Schema.isGreaterThan(0)), 200),
  learningRate: def(Schema.Number.check(Schema.isGreaterThan(0)), 3e-3),
  batchSize: def(Schema.Int.check(Schema.isGreaterThan(0)), 16),
  validationFraction: def(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1)), 0.2),
  seed: def(Schema.Int, 0),
  /** The .onnx file to write (tokenizer.json goes beside it); `{seed}` in it becomes the seed (one model per seed: `--seed N`). */
  out: Schema.String
})
export type TrainRmConfig = typeof TrainRmConfig.Type

/** Pairs from the task: prompt i with its own demonstration and the next one's, ordered by gold. */
const taskPairs = (config: TrainRmConfig) => {
  const task = Tasks.getTask(config.task)
  const demos = task.demonstrations(config.task, config.pairs * 2, Seeds.deriveSeed(config.seed, "rm-demos"))
  const tok = task.tokenizer
  const pairs: Array<{ prompt: ReadonlyArray<number>; chosen: ReadonlyArray<number>; rejected: ReadonlyArray<number> }> = []
  for (let i = 0; i + 1 < demos.length && pairs.length < config.pairs; i++) {
    const prompt = demos[i]!.promptTokenIds
    const promptText = tok.decode(prompt)
    const a = demos[i]!.completionTokenIds
    const b = demos[i + 1]!.completionTokenIds
    const ga = task.goldReward(promptText, tok.decode(a), a)
    const gb = task.goldReward(promptText, tok.decode(b), b)
    if (ga === gb) continue
    pairs.push(ga > gb ? { prompt, chosen: a, rejected: b } : { prompt, chosen: b, rejected: a })
  }
  return pairs
}

/** Pairs from a stored run (its pairing already chose chosen vs rejected). */
const runPairs = (run: string, db: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const id = (yield* store.getRun(run)).runId
    const result = yield* store.query(`
      SELECT pr.token_ids, c.token_ids, r.token_ids FROM pairs p
      JOIN rollouts c ON c.rollout_id = p.chosen_id JOIN rollouts r ON r.rollout_id = p.rejected_id
      JOIN prompts pr ON pr.prompt_id = p.prompt_id
      WHERE p.run_id = '${id.replace(/'/g, "''")}' ORDER BY p.pair_id`)
    return result.rows.map(([prompt, chosen, rejected]) => ({
      prompt: prompt as Array<number>, chosen: chosen as Array<number>, rejected: rejected as Array<number>
    }))
  }).pipe(Effect.provide(storeLayer(db, { create: false })))

/**
 * The trunk checkpoint's config and weights (a Hugging Face directory is converted once, into
 * checkpoints/ beside the reward model's file). The reward model leaves as ONNX, so its architecture needs onnx graphs.
 */
const trunkOf = (path: string, root: string, file: string, taskVocab: number) =>
  Effect.gen(function*() {
    const { Architectures, Checkpoint, CheckpointStore } = yield* Effect.promise(() => import("@odpo/model"))
    const info = yield* CheckpointStore.importCheckpoint(path, root)
    const loaded = yield* Checkpoint.loadCheckpoint(info.ref.path)
    const weights = yield* Effect.promise(() => loaded.model.weights()).pipe(Effect.ensuring(Effect.sync(() => loaded.model.dispose())))
    // RewardModelExport writes the trunk with GptGraph's forward.
    if (Architectures.architectureOf(loaded.config) !== "gpt2") {
      return yield* new Errors.ConfigError({
        message: `${file}: $.trunk ${path} is a ${Architectures.architectureOf(loaded.config)} model; train-rm writes its reward model as ONNX, which odpo can do for gpt2 only`,
        path: "$.trunk",
        file
      })
    }
    if (loaded.tokenizer.vocabSize !== taskVocab) {
      return yield* new Errors.ConfigError({ message: `${file}: $.trunk ${path} has a vocabulary of ${loaded.tokenizer.vocabSize} tokens; the task's has ${taskVocab}`, path: "$.trunk", file })
    }
    return { config: loaded.config, weights }
  })

export const trainRm = Command.make(
  "train-rm",
  {
    config: Argument.String("config").pipe(Argument.withDescription("reward-model JSON (task, source, model, steps, out …)")),
    db: Flag.String("db").pipe(Flag.withDescription(`the run store of source {"run": …} (overrides the config's source.db, default ${RunStore.defaultDbFile})`), Flag.optional),
    seed: Flag.Int("seed").pipe(Flag.withDescription("the seed of the pairs drawn, the initialisation and the batches (default: the config's seed); `{seed}` in `out` becomes it"), Flag.optional),
    backend: engineFlag("trains the reward model")
  },
  Effect.fn(function*({ config: file, db, seed, backend }) {
    const text = yield* readConfigText(file, "reward-model config")
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => new Errors.ConfigError({ message: `${file}: not valid JSON: ${(e as Error).message}`, file })
    })
    const decoded = yield* Schema.decodeUnknownEffect(TrainRmConfig)(json, { onExcessProperty: "error" }).pipe(
      Effect.mapError((e) => {
        const at = RunConfig.firstIssue(e.issue, json)
        return new Errors.ConfigError({ message: `${file}: $${at.path}: ${at.message}`, path: `$${at.path}`, file })
      })
    )
    const configSeed = Option.getOrElse(seed, () => decoded.seed)
    const config = { ...decoded, seed: configSeed, out: RunConfig.fillSeed(decoded.out, configSeed) }
    yield* useBackend(Option.getOrElse(backend, () => "auto" as const))
    noteInterrupt(`interrupted: no reward model was written (${config.out} is written when training ends); run \`odpo train-rm ${file}${Option.isSome(seed) ? ` --seed ${configSeed}` : ""}\` again`)
    const { RewardModelExport } = yield* Effect.promise(() => import("@odpo/optimizer"))
    const task = Tasks.getTask(config.task)
    const trunk = config.trunk === null ? undefined : yield* trunkOf(config.trunk, join(dirname(config.out), "checkpoints"), file, task.tokenizer.vocabSize)
    const source = config.source
    const pairs = source === "task" ? taskPairs(config) : yield* runPairs(source.run, Option.getOrElse(db, () => source.db))
    if (pairs.length < 2) return yield* new Errors.InvalidInput({ message: `${file}: only ${pairs.length} preference pairs; need at least 2` })
    const m = config.model
    const result = yield* RewardModelExport.trainRewardModel({
      pairs,
      model: { ...m, vocabSize: m.vocabSize === 0 ? task.tokenizer.vocabSize : m.vocabSize },
      ...(trunk ? { trunk } : {}),
      tokenizer: task.tokenizer,
      steps: config.steps,
      learningRate: config.learningRate,
      batchSize: config.batchSize,
      validationFraction: config.validationFraction,
      seed: config.seed,
      outFile: config.out
    }).pipe(Effect.provide(layerTerminal))
    yield* Console.log(
      `reward model: ${pairs.length} pairs, train accuracy ${result.trainAccuracy.toFixed(3)}, ` +
        `validation accuracy ${result.validationAccuracy.toFixed(3)} → ${result.outFile} (+ ${result.tokenizerFile})`
    )
    yield* Console.log(`use it as: "reward": {"type": "onnx", "path": ${JSON.stringify(result.outFile)}}`)
  })
).pipe(Command.withDescription("Train a Bradley–Terry reward model on preference pairs and export it to ONNX"))
