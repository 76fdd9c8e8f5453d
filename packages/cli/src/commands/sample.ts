/** `odpo sample` and `odpo score`: one-off sampling and scoring from files (JSONL in and out). */
import { RunConfig, RunStore } from "@odpo/core"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { dirname, join, resolve } from "node:path"
import { noteInterrupt } from "../Errors.ts"
import { layerTerminal } from "../ProgressBar.ts"
import { engineFlag, useBackend } from "./shared.ts"

/** Where `odpo sample` converts a Hugging Face directory to: the default run store's checkpoint root. */
const defaultCheckpoints = join(dirname(RunStore.defaultDbFile), "checkpoints")

export const sample = Command.make(
  "sample",
  {
    policy: Flag.String("policy").pipe(Flag.withDescription("checkpoint directory of the policy: an odpo checkpoint or a Hugging Face directory (GPT-2, Llama, Qwen2, Qwen3)")),
    checkpoints: Flag.String("checkpoints").pipe(
      Flag.withDescription(`where a Hugging Face directory is converted to (once), default ${defaultCheckpoints}`),
      Flag.withDefault(defaultCheckpoints)
    ),
    prompts: Flag.String("prompts").pipe(Flag.withDescription("JSONL of {\"id\", \"prompt\"}")),
    n: Flag.Int("n").pipe(Flag.withDescription("completions per prompt"), Flag.withDefault(1)),
    temperature: Flag.Finite("temperature").pipe(Flag.withDescription("0 = greedy"), Flag.withDefault(1)),
    topK: Flag.Int("top-k").pipe(Flag.withDescription("0 = off"), Flag.withDefault(0)),
    topP: Flag.Finite("top-p").pipe(Flag.withDescription("in (0, 1]; 1 = off"), Flag.withDefault(1)),
    minP: Flag.Finite("min-p").pipe(Flag.withDescription("0 = off"), Flag.withDefault(0)),
    repetitionPenalty: Flag.Finite("repetition-penalty").pipe(Flag.withDescription("1 = off"), Flag.withDefault(1)),
    maxNewTokens: Flag.Int("max-new-tokens").pipe(Flag.withDescription("longest completion, in tokens (stops earlier at EOS or a stop string)"), Flag.withDefault(32)),
    stop: Flag.String("stop").pipe(Flag.withDescription("stop string (repeatable)"), Flag.atLeast(0)),
    seed: Flag.Int("seed").pipe(Flag.withDescription("sampling seed: the same seed, policy and prompts give the same completions"), Flag.withDefault(0)),
    out: Flag.String("out").pipe(Flag.withDescription("rollouts JSONL to write")),
    backend: engineFlag("runs the policy")
  },
  Effect.fn(function*(o) {
    noteInterrupt(`interrupted: ${o.out} is not complete; run \`odpo sample\` again to write it whole`)
    const [{ SampleFile }, { Architectures, CheckpointStore, Backend, HfImport }] = yield* Effect.promise(() => Promise.all([import("@odpo/sampler"), import("@odpo/model")]))
    const architecture = HfImport.architectureOfDirectory(o.policy)
    const engine = yield* useBackend(Option.getOrElse(o.backend, () => "auto" as const), 0, architecture, "inference")
    const policy = yield* CheckpointStore.importCheckpoint(o.policy, o.checkpoints)
    if (policy.ref.path !== resolve(o.policy)) {
      yield* Console.error(`policy: ${o.policy} (Hugging Face ${Architectures.table[architecture ?? "gpt2"].displayName}) is checkpoint ${policy.ref.path}`)
    }
    const result = yield* SampleFile.sampleFile({
      policyDir: policy.ref.path,
      promptsFile: o.prompts,
      n: o.n,
      params: {
        temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP,
        repetitionPenalty: o.repetitionPenalty, maxNewTokens: o.maxNewTokens, stop: o.stop
      },
      seed: o.seed,
      out: o.out,
      label: "sample",
      ...(Backend.isOnnxBackend(engine.backend) ? { onnx: { provider: Backend.onnxProviders[engine.backend], threads: 0 } } : {})
    }).pipe(Effect.provide(layerTerminal))
    if (result.capped) {
      const c = result.capped
      yield* Console.error(
        `warning: --max-new-tokens ${o.maxNewTokens} is more than the policy's context of ${c.contextLength} tokens leaves after ` +
          `${c.prompts} of ${result.prompts} prompt(s): their completions stop at the context (as few as ${c.fewestTokens} tokens, prompt ${c.promptId})`
      )
    }
    yield* Console.log(`${result.rollouts} rollouts of ${result.prompts} prompts from ${result.policy.id.slice(0, 12)} → ${result.out}`)
  })
).pipe(Command.withDescription("Sample K completions per prompt from a policy checkpoint (token log-probs recorded)"))

export const score = Command.make(
  "score",
  {
    reward: Flag.String("reward").pipe(Flag.withDescription("reward spec: JSON text or a JSON file, e.g. '{\"type\":\"task\"}'")),
    input: Flag.String("input").pipe(Flag.withDescription("rollouts JSONL (as `odpo sample` writes)")),
    out: Flag.String("out").pipe(Flag.withDescription("scored JSONL to write")),
    task: Flag.Literals("task", RunConfig.TaskConfig.fields.name.literals.filter((n) => n !== "prompts")).pipe(
      Flag.withDescription("built-in task for the gold reward (and the `task` reward)"),
      Flag.optional
    ),
    mu: Flag.Finite("mu").pipe(Flag.withDescription("bandit: reward peak"), Flag.withDefault(70))
  },
  Effect.fn(function*(o) {
    const { RewardSpec, ScoreFile } = yield* Effect.promise(() => import("@odpo/scorer"))
    const reward = yield* RewardSpec.parseRewardSpec(o.reward)
    const named = Option.getOrUndefined(o.task)
    const task = named !== undefined
      ? yield* RunConfig.decodeRunConfig({ task: { name: named, mu: o.mu } }).pipe(Effect.map((c) => ({ ...c.task, name: named })))
      : undefined
    const result = yield* ScoreFile.scoreFile({ reward, ...(task ? { task } : {}), input: o.input, out: o.out })
    yield* Console.log(`${result.rows} rollouts scored by ${result.source} → ${o.out}`)
  })
).pipe(Command.withDescription("Score rollouts with a reward spec (task gold reward, ONNX reward model, sums, penalties)"))
