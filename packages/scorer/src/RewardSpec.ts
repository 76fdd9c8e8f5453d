/**
 * The reward-source specs the scorer understands, decoded in full (core's RunConfig only checks
 * `type`): unknown fields and bad values are ConfigErrors that name their JSON path.
 */
import { Errors, RunConfig } from "@odpo/core"
import { Effect, Schema } from "effect"
import { existsSync, readFileSync, statSync } from "node:fs"

const { ConfigError } = Errors

const def = RunConfig.withDefault

const NonNegative = Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

/** The task's own `reward` (its gold reward, except `length`'s length-biased labeller). */
export const TaskSpec = Schema.Struct({ type: Schema.Literal("task") })

/** A Hugging Face-layout sequence classifier: input_ids, attention_mask (int64 [batch, seq]) → logits [batch, labels]. */
export const OnnxSpec = Schema.Struct({
  type: Schema.Literal("onnx"),
  /** The .onnx file. */
  path: Schema.String,
  /** tokenizer.json for the model; default: tokenizer.json beside the .onnx file, else the task's tokenizer. */
  tokenizer: def(Schema.NullOr(Schema.String), null),
  /** How prompt and completion are joined into the model's input text. */
  template: def(Schema.String, "{prompt}{completion}"),
  output: def(
    Schema.Struct({
      /** Which logit is the reward. */
      index: def(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), 0),
      /** none: the raw logit; sigmoid: σ(logit); softmax: its probability over the labels. */
      transform: def(Schema.Literals(["none", "sigmoid", "softmax"]), "none")
    }),
    {}
  ),
  /** Longest input in tokens; longer inputs keep their last maxLength tokens (the completion's end). */
  maxLength: def(PositiveInt, 512),
  /** Rows per session run. */
  batchSize: def(PositiveInt, 64),
  /** onnxruntime intra-op threads; 0 = its default (all cores). */
  threads: def(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), 0)
})
export type OnnxSpec = typeof OnnxSpec.Type

/** −λ·|y|, |y| = completion tokens (EOS included when present, as pairing counts them). */
export const LengthPenaltySpec = Schema.Struct({ type: Schema.Literal("length_penalty"), lambda: NonNegative })

/** −penalty when the completion did not end with EOS (finishReason ≠ "eos"), else 0. */
export const MissingEosPenaltySpec = Schema.Struct({ type: Schema.Literal("missing_eos_penalty"), penalty: NonNegative })

/**
 * A TypeScript or JavaScript function (TRL's reward_funcs contract): called with one object of
 * named arrays — prompts (text, or a chat's messages), completions, completion_ids, finish_reasons
 * and each of the prompt rows' other columns — it returns one number per completion, or a Promise of them.
 */
export const FunctionSpec = Schema.Struct({
  type: Schema.Literal("function"),
  /** The module file (.ts, .mts, .js, .mjs), relative to the working directory; .ts is compiled by esbuild. */
  module: Schema.String,
  /** The export to call. */
  export: def(Schema.String, "reward"),
  /** Completions per call. */
  batchSize: def(PositiveInt, 64)
})
export type FunctionSpec = typeof FunctionSpec.Type

/**
 * A reward server speaking OpenRLHF's remote-reward protocol: POST {"query": [prompt + completion],
 * "prompts": [prompt], "labels": [label]} → {"rewards": [number]}, one request per batch.
 */
export const HttpSpec = Schema.Struct({
  type: Schema.Literal("http"),
  /** The endpoint, e.g. http://127.0.0.1:5000/get_reward. */
  url: Schema.String,
  /** Completions per request. */
  batchSize: def(PositiveInt, 64),
  /** Requests in flight at once. */
  concurrency: def(PositiveInt, 4),
  /** A request that has not answered by then is abandoned (and retried). */
  timeoutMs: def(PositiveInt, 30_000),
  /** Tries after the first, for a timeout, a lost connection or a 5xx answer; the wait doubles from backoffMs. */
  retries: def(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), 3),
  backoffMs: def(NonNegative, 200),
  /** The prompt column sent as each item's label (e.g. "ground_truth"); null sends null. */
  labelColumn: def(Schema.NullOr(Schema.String), null)
})
export type HttpSpec = typeof HttpSpec.Type

/** Σ weight·source; `source` is any reward spec (decoded recursively). */
const SumShape = Schema.Struct({
  type: Schema.Literal("sum"),
  terms: Schema.Array(Schema.Struct({ weight: Schema.Number, source: Schema.Unknown })).check(Schema.isMinLength(1))
})

export type RewardSpec =
  | typeof TaskSpec.Type
  | OnnxSpec
  | typeof LengthPenaltySpec.Type
  | typeof MissingEosPenaltySpec.Type
  | FunctionSpec
  | HttpSpec
  | { readonly type: "sum"; readonly terms: ReadonlyArray<{ readonly weight: number; readonly source: RewardSpec }> }

const { firstIssue } = RunConfig

const TYPES = ["task", "onnx", "function", "http", "sum", "length_penalty", "missing_eos_penalty"] as const
const SCHEMAS = {
  task: TaskSpec, onnx: OnnxSpec, function: FunctionSpec, http: HttpSpec,
  length_penalty: LengthPenaltySpec, missing_eos_penalty: MissingEosPenaltySpec, sum: SumShape
}

const fail = (where: string, path: string, message: string, file?: string) =>
  new ConfigError({ message: `${where}: ${path}: ${message}`, path, ...(file ? { file } : {}) })

/**
 * Decode a reward spec. `path` is the JSON path of `input` in its document (e.g. "$.reward"), so
 * messages point at the field a user wrote; `file` names the document.
 */
export const decodeRewardSpec = (input: unknown, path = "$", file?: string): Effect.Effect<RewardSpec, Errors.ConfigError> =>
  Effect.gen(function*() {
    const where = file ?? "reward spec"
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      return yield* fail(where, path, `expected an object with a "type" (one of ${TYPES.join(", ")}), got ${JSON.stringify(input)}`, file)
    }
    const type = (input as { type?: unknown }).type
    if (!TYPES.includes(type as never)) {
      return yield* fail(where, `${path}.type`, `expected one of ${TYPES.join(", ")}, got ${JSON.stringify(type)}`, file)
    }
    const schema = SCHEMAS[type as keyof typeof SCHEMAS] as Schema.Codec<unknown, unknown>
    const decoded = yield* Schema.decodeUnknownEffect(schema)(input, { onExcessProperty: "error", errors: "all" }).pipe(
      Effect.mapError((error) => {
        const issue = firstIssue(error.issue, input)
        return fail(where, path + issue.path, issue.message, file)
      })
    )
    if (type !== "sum") return decoded as RewardSpec
    const sum = decoded as typeof SumShape.Type
    const terms = yield* Effect.forEach(sum.terms, (term, i) =>
      Effect.map(decodeRewardSpec(term.source, `${path}.terms[${i}].source`, file), (source) => ({ weight: term.weight, source })))
    return { type: "sum", terms } as RewardSpec
  })

/** JSON text, or the path of a JSON file, → a decoded spec (what `odpo score --reward SPEC` takes). */
export const parseRewardSpec = (textOrPath: string): Effect.Effect<RewardSpec, Errors.ConfigError> =>
  Effect.gen(function*() {
    const trimmed = textOrPath.trim()
    const isFile = !trimmed.startsWith("{") && existsSync(trimmed) && statSync(trimmed).isFile()
    if (!isFile && !trimmed.startsWith("{")) {
      return yield* new ConfigError({ message: `reward spec ${JSON.stringify(textOrPath)} is neither JSON (starting with "{") nor an existing file` })
    }
    const text = isFile ? readFileSync(trimmed, "utf8") : trimmed
    const file = isFile ? trimmed : undefined
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (e) => new ConfigError({ message: `${file ?? "reward spec"}: not valid JSON: ${(e as Error).message}`, ...(file ? { file } : {}) })
    })
    return yield* decodeRewardSpec(json, "$", file)
  })

/** A stable, readable id for a spec: what scores.source stores (onnx ids name the file and output). */
export const specId = (spec: RewardSpec, taskName?: string): string => {
  switch (spec.type) {
    case "task":
      return `task:${taskName ?? "?"}`
    case "onnx":
      return `onnx:${spec.path}#${spec.output.index}${spec.output.transform === "none" ? "" : `:${spec.output.transform}`}`
    case "function":
      return `function:${spec.module}#${spec.export}`
    case "http":
      return `http:${spec.url}`
    case "length_penalty":
      return `length_penalty:${spec.lambda}`
    case "missing_eos_penalty":
      return `missing_eos_penalty:${spec.penalty}`
    case "sum":
      return `sum(${spec.terms.map((t) => `${t.weight}*${specId(t.source, taskName)}`).join(",")})`
  }
}
