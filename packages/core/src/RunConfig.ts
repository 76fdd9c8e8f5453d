/** The experiment config: one Schema per component, every field with a documented default. */
import { Effect, Schema, SchemaIssue } from "effect"
import { ConfigError } from "./Errors.ts"

/** A field that takes `value` when the key is absent (every config schema of the project uses it). */
export const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  Schema.withDecodingDefaultKey<S>(Effect.succeed(value))(schema)
const def = withDefault

const Positive = Schema.Number.check(Schema.isGreaterThan(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const NonNegative = Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Probability = Schema.Number.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(1))

/**
 * The policy's decoder. vocabSize comes from the task's tokenizer when omitted. The Llama-family
 * fields are optional keys, so a GPT-2 config decodes exactly as it did before they existed.
 */
export const ModelConfig = Schema.Struct({
  /** gpt2 (the default when absent) | llama | qwen2 | qwen3 (RMSNorm, RoPE, GQA, SwiGLU). */
  architecture: Schema.optionalKey(Schema.Literals(["gpt2", "llama", "qwen2", "qwen3"])),
  /** Vocabulary size; 0 = take it from the tokenizer. */
  vocabSize: def(NonNegativeInt, 0),
  /** Longest prompt + completion, in tokens. */
  contextLength: def(PositiveInt, 32),
  /** Width of the residual stream. */
  dModel: def(PositiveInt, 64),
  /** Number of transformer blocks. */
  nLayers: def(PositiveInt, 2),
  /** Attention heads; must divide dModel. */
  nHeads: def(PositiveInt, 4),
  /** Dropout rate in training (0 keeps training deterministic and cheap). */
  dropout: def(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1)), 0),
  /** Llama family: key/value heads (GQA); absent = nHeads. */
  nKvHeads: Schema.optionalKey(PositiveInt),
  /** Llama family: width of one head; absent = dModel / nHeads. */
  headDim: Schema.optionalKey(PositiveInt),
  /** Llama family: the SwiGLU MLP's width; absent = 4·dModel. */
  intermediateSize: Schema.optionalKey(PositiveInt),
  /** Llama family: RoPE's base; absent = 10000. */
  ropeTheta: Schema.optionalKey(Positive),
  /** Llama family: RMSNorm's ε; absent = 1e-6. */
  rmsNormEps: Schema.optionalKey(Positive),
  /** Llama family: the LM head shares the embedding; absent = true. */
  tieWordEmbeddings: Schema.optionalKey(Schema.Boolean),
  /** Llama family: biases on the attention projections (q/k/v and o; Qwen2: q/k/v always). Absent = false (qwen2: true). */
  attentionBias: Schema.optionalKey(Schema.Boolean)
})
export type ModelConfig = typeof ModelConfig.Type

/** The task names: the five built-in tasks and `prompts`, the user's own prompt file (tasks/Prompts.ts). */
export const TaskName = Schema.Literals(["bandit", "sentiment", "length", "arith", "order", "prompts"])
export type TaskName = typeof TaskName.Type

/** The task and its parameters: a built-in task's, or (name "prompts") the user's prompt files'. */
export const TaskConfig = Schema.Struct({
  /** bandit | sentiment | length | arith | order (3 actions, a > b > c: SCIENCE.md claim 6) | prompts (your own file). */
  name: TaskName,
  /** bandit: where the reward peaks (SCIENCE.md claim 5: 70 far from π₀, 20 near it). */
  mu: def(Schema.Number, 70),
  /** bandit: width of the reward bump. */
  sigma: def(Positive, 10),
  /** Seed for the task's prompt generator and splits (prompts: the evalFraction split). */
  seed: def(Schema.Int, 0),
  /** Number of train prompts the task generates (prompts: ignored, the file decides). */
  trainPrompts: def(PositiveInt, 512),
  /** Number of held-out prompts (prompts: ignored, the file decides). */
  heldoutPrompts: def(PositiveInt, 64),
  /** prompts: the train file (JSONL, JSON, Parquet or CSV, read by DuckDB), relative to the working directory. */
  train: def(Schema.NullOr(Schema.String), null),
  /** prompts: the held-out file; null = hold out `evalFraction` of the train file. */
  eval: def(Schema.NullOr(Schema.String), null),
  /** prompts: the share of the train file's rows held out (seeded by task.seed) when no eval file is named. */
  evalFraction: def(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1)), 0),
  /** prompts: the column holding the prompt: a string, or a chat (a list of {role, content}). */
  promptColumn: def(Schema.String, "prompt"),
  /** prompts: the column of unique prompt ids; null = the row number. */
  idColumn: def(Schema.NullOr(Schema.String), null),
  /**
   * prompts: a prompt longer than the context leaves for the completion (contextLength −
   * sampling.maxNewTokens): error stops the run before anything is written; truncate keeps its
   * last tokens (BOS kept); drop leaves it out. Truncated and dropped prompts are counted (prompt_files).
   */
  overlong: def(Schema.Literals(["error", "truncate", "drop"]), "error"),
  /**
   * prompts: demonstrations for π₀'s SFT (round 0, and `odpo sft`) when policy.init is null: a file
   * with the prompt column and completionColumn (the loss is on the completion's tokens only).
   */
  demonstrations: def(Schema.NullOr(Schema.String), null),
  /** prompts: the demonstrations' completion column (text; EOS is appended). */
  completionColumn: def(Schema.String, "completion"),
  /** prompts: tokenizer.json (or a directory holding one) for a policy trained from scratch; null = policy.init's, else printable ASCII characters. */
  tokenizer: def(Schema.NullOr(Schema.String), null),
  /** prompts: a Jinja chat template file that overrides the tokenizer's (tokenizer_config.json chat_template). */
  chatTemplate: def(Schema.NullOr(Schema.String), null)
})
export type TaskConfig = typeof TaskConfig.Type

/** What a generated task's prompts and demonstrations depend on (the built-in tasks read nothing else). */
export type TaskParams = Pick<TaskConfig, "mu" | "sigma" | "seed" | "trainPrompts" | "heldoutPrompts">
/** A built-in task's config: the names whose prompts are generated, not read from a file. */
export type BuiltinTaskConfig = TaskParams & { readonly name: Exclude<TaskName, "prompts"> }

/** How π₀ is made when no initial checkpoint is named: SFT on the task's demonstrations. */
export const SftConfig = Schema.Struct({
  /** Optimizer steps of SFT. */
  steps: def(PositiveInt, 300),
  /** Demonstrations per step. */
  batchSize: def(PositiveInt, 32),
  /** AdamW learning rate. */
  learningRate: def(Positive, 3e-3)
})
export type SftConfig = typeof SftConfig.Type

export const PolicyConfig = Schema.Struct({
  /** Checkpoint directory of π₀; null = train one by SFT on the task (see `sft`). */
  init: def(Schema.NullOr(Schema.String), null),
  model: def(ModelConfig, {}),
  sft: def(SftConfig, {})
})
export type PolicyConfig = typeof PolicyConfig.Type

export const SamplingConfig = Schema.Struct({
  /** Train prompts drawn per round (P). */
  promptsPerRound: def(PositiveInt, 32),
  /** Completions per prompt (K). */
  samplesPerPrompt: def(PositiveInt, 8),
  /** Softmax temperature; 0 = greedy. */
  temperature: def(NonNegative, 1),
  /** Keep the k most likely tokens; 0 = off. */
  topK: def(NonNegativeInt, 0),
  /** Nucleus sampling mass, in (0, 1]; 1 = off. */
  topP: def(Probability, 1),
  /** Drop tokens below minP × the top probability; 0 = off. */
  minP: def(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(1)), 0),
  /** CTRL-style repetition penalty; 1 = off. */
  repetitionPenalty: def(Positive, 1),
  /** Longest completion, in tokens. */
  maxNewTokens: def(PositiveInt, 16),
  /** Stop strings (besides EOS). */
  stop: def(Schema.Array(Schema.String), [])
})
export type SamplingConfig = typeof SamplingConfig.Type

/**
 * A reward source, decoded in full by the scorer package (`type` picks the source; the other
 * fields are that source's options). Here only its `type` is checked.
 */
export const RewardSpec = Schema.StructWithRest(
  Schema.Struct({
    /** task: the task's gold reward; onnx: a reward model file; function: your TS/JS function; http: a reward server; sum: weighted `terms`; penalties. */
    type: Schema.Literals(["task", "onnx", "sum", "length_penalty", "missing_eos_penalty", "function", "http"])
  }),
  [Schema.Record(Schema.String, Schema.Unknown)]
)
export type RewardSpec = typeof RewardSpec.Type

export const PairingConfig = Schema.Struct({
  /** Which two samples of a prompt make a pair. */
  strategy: def(Schema.Literals(["max_min", "max_random", "max_max", "random", "all_pairs", "top_k_bottom_k"]), "max_min"),
  /** top_k_bottom_k: how many best and worst. */
  k: def(PositiveInt, 2),
  /** Drop pairs whose reward margin is below this. */
  minMargin: def(NonNegative, 0),
  /** Rank by r − λ|y| (λ per token) instead of r. */
  lengthPenalty: def(NonNegative, 0),
  /** Drop pairs whose rewards are equal. */
  dropTies: def(Schema.Boolean, true),
  /** Drop pairs whose two completions are the same tokens. */
  dropDuplicates: def(Schema.Boolean, true),
  /**
   * Label noise ε: each kept pair's chosen and rejected are swapped with probability ε (seeded by
   * run seed and round; pairs.flipped records which), to test cDPO / rDPO against noisy labels.
   */
  flipRate: def(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(1)), 0)
})
export type PairingConfig = typeof PairingConfig.Type

/** The preference losses (SCIENCE.md table): trained on pairs (kto: on each pair's two sides, labelled). */
export const PreferenceLossName = Schema.Literals(["sigmoid", "ipo", "hinge", "robust", "kto", "simpo", "rdpo", "sft"])
export type PreferenceLossName = typeof PreferenceLossName.Type

/** The policy-gradient objectives (README "RL objectives"): every sample with its advantage, no pairing. */
export const PolicyGradientName = Schema.Literals(["rloo", "ppo_clip"])
export type PolicyGradientName = typeof PolicyGradientName.Type

export const LossName = Schema.Literals([...PreferenceLossName.literals, ...PolicyGradientName.literals])
export type LossName = typeof LossName.Type

export const isPolicyGradient = (name: LossName): name is PolicyGradientName =>
  (PolicyGradientName.literals as ReadonlyArray<string>).includes(name)

export const LossConfig = Schema.Struct({
  /** Loss name: a preference loss (SCIENCE.md table) or a policy-gradient objective (rloo, ppo_clip). */
  type: def(LossName, "sigmoid"),
  /** β: strength of the KL regulariser (τ for ipo; the KL coefficient of rloo and ppo_clip, TRL's kl_coef). */
  beta: def(Positive, 0.1),
  /** ε for cDPO (sigmoid) and rDPO (robust). */
  labelSmoothing: def(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(0.5)), 0),
  /** SimPO target margin γ. */
  simpoGamma: def(Schema.Number, 1),
  /** R-DPO length coefficient α. */
  rdpoAlpha: def(Schema.Number, 0),
  /** KTO weight on desirable examples λ_D. */
  ktoLambdaD: def(Positive, 1),
  /** KTO weight on undesirable examples λ_U. */
  ktoLambdaU: def(Positive, 1),
  /**
   * KTO: share of the desirable examples dropped each round (seeded by the round's training seed),
   * Ethayarajh et al.'s imbalance test (0.9 drops 90 %). Raise ktoLambdaD with it so that
   * λ_D n_D / (λ_U n_U) stays in [1, 4/3].
   */
  ktoDesirableDrop: def(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1)), 0),
  /** Weight of an NLL term on the chosen, mixed into any pairwise loss. */
  sftWeight: def(NonNegative, 0),
  /**
   * rloo, ppo_clip: where the KL to π_ref goes. reward: r ← r − β·KL per completion before the
   * leave-one-out baseline (TRL's RLOOTrainer); loss: β·Σ_t k3 per completion added to the loss (GRPO).
   */
  klMode: def(Schema.Literals(["reward", "loss"]), "reward"),
  /** ppo_clip: the ratio π_θ/π_old is clipped to [1 − ε, 1 + ε]; its passes over a round's samples are training.epochs. */
  ppoClipEpsilon: def(Positive, 0.2)
})
export type LossConfig = typeof LossConfig.Type

export const ReferenceConfig = Schema.Struct({
  /** fixed: π₀; previous_round: π_r; ema: TR-DPO soft update ref ← α·π + (1−α)·ref. */
  type: def(Schema.Literals(["fixed", "previous_round", "ema"]), "fixed"),
  /** TR-DPO α for `ema`. */
  alpha: def(Probability, 0.5)
})
export type ReferenceConfig = typeof ReferenceConfig.Type

export const TrainingConfig = Schema.Struct({
  /** Passes over the round's pairs (rloo, ppo_clip: over its samples). */
  epochs: def(PositiveInt, 1),
  /** Pairs (rloo, ppo_clip: samples) per optimizer step (after accumulation). */
  batchSize: def(PositiveInt, 16),
  /** Micro-batches accumulated per step. */
  gradAccum: def(PositiveInt, 1),
  /** Peak AdamW learning rate. */
  learningRate: def(Positive, 1e-3),
  /** Linear warm-up steps. */
  warmupSteps: def(NonNegativeInt, 0),
  /** Decay after warm-up. */
  schedule: def(Schema.Literals(["constant", "linear", "cosine"]), "constant"),
  weightDecay: def(NonNegative, 0),
  beta1: def(Schema.Number, 0.9),
  beta2: def(Schema.Number, 0.999),
  epsilon: def(Positive, 1e-8),
  /** Clip the global gradient norm to this; 0 = off. */
  maxGradNorm: def(NonNegative, 1)
})
export type TrainingConfig = typeof TrainingConfig.Type

export const EvalConfig = Schema.Struct({
  /** Held-out prompts evaluated each round. */
  prompts: def(PositiveInt, 32),
  /** Completions per held-out prompt. */
  samplesPerPrompt: def(PositiveInt, 4),
  /** Sampling temperature for evaluation. */
  temperature: def(NonNegative, 1)
})
export type EvalConfig = typeof EvalConfig.Type

/**
 * Where the policy runs. tfjs: `webgpu` (Dawn: Vulkan / Metal / D3D12), `tensorflow-gpu` and
 * `tensorflow` (tfjs-node, optional), `cpu` (pure JS, the reference every engine is tested
 * against). onnxruntime: `onnx` (MLAS on the CPU), `onnx-webgpu` (its bundled WebGPU provider).
 * `auto` takes a hardware GPU first, then onnx on the CPU, then tfjs cpu.
 */
export const Backend = Schema.Literals(["auto", "webgpu", "onnx", "onnx-webgpu", "tensorflow-gpu", "tensorflow", "cpu"])
export type Backend = typeof Backend.Type

export const EngineConfig = Schema.Struct({
  /** Which engine runs the policy (see Backend). */
  backend: def(Backend, "auto"),
  /** CPU threads for onnxruntime's intra-op pool; 0 = onnxruntime's default (one per core). */
  threads: def(NonNegativeInt, 0),
  /**
   * PostgreSQL URL of an Effect Cluster whose `odpo worker`s sample and score the rounds (the
   * CLI's --cluster overrides); absent: this process samples and scores, with no server.
   */
  cluster: Schema.optionalKey(Schema.String)
})
export type EngineConfig = typeof EngineConfig.Type

export const RunConfig = Schema.Struct({
  /** Run name (the CLI's --name overrides). */
  name: def(Schema.String, "run"),
  /** Experiment folder name, for grouping runs. */
  experiment: def(Schema.String, "adhoc"),
  /** Master seed: every random choice derives from (seed, round, stage). */
  seed: def(Schema.Int, 0),
  /** Number of rounds R. */
  rounds: def(PositiveInt, 3),
  /** online: sample from π_r every round; offline: one pool from π₀ for all rounds. */
  pairSource: def(Schema.Literals(["online", "offline"]), "online"),
  /** Sample from π_{r−n} (0 = on-policy). */
  staleness: def(NonNegativeInt, 0),
  task: TaskConfig,
  policy: def(PolicyConfig, {}),
  sampling: def(SamplingConfig, {}),
  /** Reward used for pairing; default: the task's gold reward. */
  reward: def(RewardSpec, { type: "task" }),
  /**
   * A held-out gold reward for a task without one (the prompts task): any reward spec, scored into
   * scores.gold_reward and eval/gold_reward so over-optimisation of `reward` shows. null = the
   * task's own gold (none for prompts: evaluation reports the proxy only).
   */
  gold: def(Schema.NullOr(RewardSpec), null),
  pairing: def(PairingConfig, {}),
  loss: def(LossConfig, {}),
  reference: def(ReferenceConfig, {}),
  training: def(TrainingConfig, {}),
  eval: def(EvalConfig, {}),
  engine: def(EngineConfig, {})
})
export type RunConfig = typeof RunConfig.Type
export type RunConfigInput = typeof RunConfig.Encoded

/** `{seed}` in a string, replaced by the seed (the placeholder of `withSeedInReward` and `odpo train-rm`'s `out`). */
const seedPlaceholder = "{seed}"
export const fillSeed = (text: string, seed: number): string => text.split(seedPlaceholder).join(String(seed))

const fillSeedDeep = (value: unknown, seed: number): unknown =>
  typeof value === "string" ? fillSeed(value, seed)
  : Array.isArray(value) ? value.map((v) => fillSeedDeep(v, seed))
  : typeof value === "object" && value !== null ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillSeedDeep(v, seed)]))
  : value

/**
 * The config with `{seed}` in its reward's and gold's strings (a reward model's `path`, a server's
 * URL, a sum's terms) replaced by the run's master seed: one config scores each seed with its own
 * reward model (`odpo train-rm RM.json --seed N`, `out` naming `{seed}` too), so a study's spread
 * over seeds includes the reward model's. The run stores the filled-in config.
 */
export const withSeedInReward = (config: RunConfig): RunConfig => ({
  ...config,
  reward: fillSeedDeep(config.reward, config.seed) as RewardSpec,
  gold: config.gold === null ? null : fillSeedDeep(config.gold, config.seed) as RewardSpec
})

const formatPath = (path: ReadonlyArray<PropertyKey>) =>
  path.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("")

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/** The value at `path` inside `input` (undefined when the path leaves it). */
const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown =>
  path.reduce<unknown>((v, k) => (typeof v === "object" && v !== null ? (v as Record<PropertyKey, unknown>)[k] : undefined), input)

/** A found value as the user wrote it, kept short. */
const shown = (value: unknown): string => {
  const text = value === undefined ? "nothing" : JSON.stringify(value) ?? String(value)
  return text.length > 60 ? `${text.slice(0, 57)}…` : text
}

/**
 * First issue of a decode failure, as (JSON path relative to the decoded value, e.g.
 * ".loss.beta", and a message that says what was expected and what was found). Shared by every
 * schema decoded from a user's JSON; `input` is the decoded value, for the "found" half.
 */
export const firstIssue = (issue: SchemaIssue.Issue, input?: unknown): { path: string; message: string } => {
  const first = standardIssues(issue).issues[0]
  const path = (first?.path ?? []).map((p) => (typeof p === "object" && p !== null ? (p as { key: PropertyKey }).key : p))
  const where = formatPath(path)
  const message = first?.message ?? String(issue)
  if (message === "Expected no excess property") return { path: where, message: "unknown field: remove it or check its spelling" }
  if (message === "Missing key") return { path: where, message: "missing required field" }
  // "Expected a value greater than 0" → "expected a value greater than 0, found 0"
  const expected = message.replace(/^Expected/, "expected")
  return { path: where, message: `${expected}, found ${shown(valueAt(input, path))}` }
}

const configError = (file: string | undefined, path: string, message: string) =>
  new ConfigError({ message: `${file ?? "config"}: ${path}: ${message}`, path, ...(file ? { file } : {}) })

const hasKey = (input: unknown, key: string) => typeof input === "object" && input !== null && Object.hasOwn(input, key)

/**
 * Checks across fields, which the schema cannot express. `written` is what the user wrote (before
 * defaults): a section given explicitly for an objective that ignores it is an error, not a no-op.
 */
/** Fields only the prompts task reads: naming one for a built-in task is a mistake, not a no-op. */
const PROMPTS_FIELDS = ["train", "eval", "evalFraction", "promptColumn", "idColumn", "overlong", "demonstrations", "completionColumn", "tokenizer", "chatTemplate"] as const

const taskIssue = (config: RunConfig, written: unknown): { path: string; message: string } | undefined => {
  const task = config.task
  const writtenTask = typeof written === "object" && written !== null ? (written as Record<string, unknown>).task : undefined
  if (task.name !== "prompts") {
    // A stored config (or one written out in full) holds every field at its default: only a value that differs is a mistake.
    const defaults = Schema.decodeUnknownSync(TaskConfig)({ name: "prompts" })
    const stray = PROMPTS_FIELDS.find((f) => hasKey(writtenTask, f) && task[f] !== defaults[f])
    if (stray) return { path: `$.task.${stray}`, message: `only task "prompts" reads ${stray}; task "${task.name}" makes its own prompts: remove it` }
    return undefined
  }
  if (task.train === null) return { path: "$.task.train", message: `task "prompts" needs a train file (JSONL, JSON, Parquet or CSV): set task.train` }
  if (task.eval === null && task.evalFraction === 0) {
    return { path: "$.task.eval", message: `task "prompts" needs held-out prompts: name an eval file (task.eval) or hold out part of the train file (task.evalFraction, e.g. 0.1)` }
  }
  if (task.eval !== null && task.evalFraction > 0) {
    return { path: "$.task.evalFraction", message: `task.eval names a held-out file, so task.evalFraction (${task.evalFraction}) would hold out a second set: remove one` }
  }
  if (config.policy.init === null && task.demonstrations === null) {
    return {
      path: "$.task.demonstrations",
      message: `task "prompts" with policy.init null trains π₀ by SFT and needs demonstrations: name a prompt/completion file in task.demonstrations, or a starting checkpoint in policy.init`
    }
  }
  if (config.reward.type === "task") {
    return { path: "$.reward", message: `task "prompts" has no reward of its own: set reward to a function ({"type": "function", "module": "rewards/mine.ts"}), an http server, an onnx model or a sum of them` }
  }
  return undefined
}

const crossFieldIssue = (config: RunConfig, written: unknown): { path: string; message: string } | undefined => {
  const task = taskIssue(config, written)
  if (task) return task
  const loss = config.loss.type
  if (isPolicyGradient(loss)) {
    if (config.sampling.samplesPerPrompt < 2) {
      return {
        path: "$.sampling.samplesPerPrompt",
        message: `loss.type "${loss}" needs at least 2 samples per prompt (got ${config.sampling.samplesPerPrompt}): its baseline is the ` +
          `mean reward of the prompt's other samples, and with one sample there is none. Set it to 2 or more (4–8 is usual)`
      }
    }
    if (hasKey(written, "pairing")) {
      return {
        path: "$.pairing",
        message: `loss.type "${loss}" trains on every sample with its advantage and makes no preference pairs: ` +
          `remove the pairing section, or choose a preference loss (sigmoid, ipo, …) to use it`
      }
    }
  } else if (config.sampling.samplesPerPrompt < 2) {
    return {
      path: "$.sampling.samplesPerPrompt",
      message: `loss.type "${loss}" trains on preference pairs, two samples of one prompt, and with ${config.sampling.samplesPerPrompt} sample ` +
        `per prompt there are none: every round would train nothing. Set it to 2 or more (4–8 is usual)`
    }
  }
  return undefined
}

const decodeWith = (input: unknown, file: string | undefined, written: unknown): Effect.Effect<RunConfig, ConfigError> =>
  Schema.decodeUnknownEffect(RunConfig)(input, { onExcessProperty: "error", errors: "all" }).pipe(
    Effect.mapError((error) => {
      const at = firstIssue(error.issue, input)
      return configError(file, "$" + at.path, at.message)
    }),
    Effect.flatMap((config) => {
      const issue = crossFieldIssue(config, written)
      return issue ? Effect.fail(configError(file, issue.path, issue.message)) : Effect.succeed(config)
    })
  )

/** Decode a parsed experiment JSON; unknown fields are errors. `file` names the source in messages. */
export const decodeRunConfig = (input: unknown, file?: string): Effect.Effect<RunConfig, ConfigError> =>
  decodeWith(input, file, input)

/**
 * Decode a config stored with a run (runs.config): it was checked as the user wrote it when the
 * run was created, and it now holds every default, so only the checks on values apply again.
 */
export const decodeStoredConfig = (input: unknown): Effect.Effect<RunConfig, ConfigError> =>
  decodeWith(input, "stored config", {})

/**
 * What a policy-gradient run should know about its sampling (PolicyGradient.ts in the optimizer):
 * with temperature ≠ 1 or a logits processor on, samples are not drawn from the policy the loss
 * differentiates, and neither RLOO nor PPO corrects for it. Empty for preference losses.
 */
export const samplingWarnings = (config: RunConfig): Array<string> => {
  if (!isPolicyGradient(config.loss.type)) return []
  const s = config.sampling
  const off = [
    s.temperature !== 1 && `sampling.temperature ${s.temperature}`,
    s.topK !== 0 && `sampling.topK ${s.topK}`,
    s.topP !== 1 && `sampling.topP ${s.topP}`,
    s.minP !== 0 && `sampling.minP ${s.minP}`,
    s.repetitionPenalty !== 1 && `sampling.repetitionPenalty ${s.repetitionPenalty}`
  ].filter((x): x is string => x !== false)
  if (off.length === 0) return []
  return [
    `loss.type "${config.loss.type}" with ${off.join(", ")}: samples come from a processed distribution, not from the policy ` +
      `being trained, and the importance ratios use the policy's own (temperature-1) log-probs, so the gradient is biased ` +
      `towards the sampling distribution. Use temperature 1 and no truncation for on-policy RL (README "RL objectives")`
  ]
}

/** Parse JSON text then decode; syntax errors name the file too. */
export const parseRunConfig = (text: string, file?: string): Effect.Effect<RunConfig, ConfigError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (e) => new ConfigError({ message: `${file ?? "config"}: not valid JSON: ${(e as Error).message}`, ...(file ? { file } : {}) })
  }).pipe(Effect.flatMap((json) => decodeRunConfig(json, file)))
