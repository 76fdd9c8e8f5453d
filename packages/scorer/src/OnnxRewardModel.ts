/**
 * An ONNX reward model run by onnxruntime-node: a sequence classifier in Hugging Face's export
 * layout (input_ids, attention_mask int64 [batch, seq] → logits float32 [batch, labels]), with its
 * own tokenizer. The session is opened once per source and released with its scope.
 */
import { Errors, type Tokenizer } from "@odpo/core"
import { TokenizerFile } from "@odpo/model"
import { Effect, type Scope } from "effect"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import type * as Ort from "onnxruntime-node"
import { embeddingRows } from "./OnnxInspect.ts"
import type { RewardSource } from "./RewardSource.ts"
import type { OnnxSpec } from "./RewardSpec.ts"

const { ConfigError, InvalidInput, OnnxError, TokenizerMismatch } = Errors

export interface OnnxRewardModel extends RewardSource {
  readonly file: string
  readonly tokenizer: Tokenizer.Tokenizer
  /** Session runs so far (a cache hit does not run the session). */
  readonly runs: () => number
}

const REQUIRED_INPUTS = ["input_ids", "attention_mask"] as const
/** BERT-style exports also take token_type_ids: fed as zeros. */
const OPTIONAL_INPUTS = ["token_type_ids"] as const
const OUTPUT = "logits"

const describe = (meta: ReadonlyArray<Ort.InferenceSession.ValueMetadata>) =>
  meta.map((m) => (m.isTensor ? `${m.name} (${m.type})` : `${m.name} (non-tensor)`)).join(", ") || "none"

/** The model's tokenizer: the spec's file, else tokenizer.json beside the model, else the task's. */
const resolveTokenizer = (spec: OnnxSpec, fallback: Tokenizer.Tokenizer | undefined) => {
  const beside = join(dirname(spec.path), "tokenizer.json")
  const file = spec.tokenizer ?? (existsSync(beside) ? beside : null)
  if (file === null) {
    return fallback !== undefined
      ? Effect.succeed(fallback)
      : Effect.fail(new ConfigError({ message: `reward model ${spec.path}: no tokenizer: set "tokenizer" in the reward spec or put a tokenizer.json beside the model` }))
  }
  return TokenizerFile.loadTokenizer(file).pipe(
    Effect.mapError((e) => new ConfigError({ message: `reward model ${spec.path}: ${e.message}`, file }))
  )
}

/** Checks names and element types against the layout above; a mismatch names what was expected and found. */
const checkSignature = (session: Ort.InferenceSession, file: string) =>
  Effect.gen(function*() {
    const inputs = session.inputMetadata
    const names = inputs.map((m) => m.name)
    const missing = REQUIRED_INPUTS.filter((n) => !names.includes(n))
    const extra = names.filter((n) => !(REQUIRED_INPUTS as ReadonlyArray<string>).includes(n) && !(OPTIONAL_INPUTS as ReadonlyArray<string>).includes(n))
    const badType = inputs.filter((m) => !m.isTensor || m.type !== "int64")
    if (missing.length > 0 || extra.length > 0 || badType.length > 0) {
      return yield* new OnnxError({
        file,
        message: `${file}: expected inputs input_ids and attention_mask (int64 [batch, seq]${OPTIONAL_INPUTS.map((o) => `; optional ${o}`).join("")}), found ${describe(inputs)}: export the model as a Hugging Face sequence classifier`
      })
    }
    const out = session.outputMetadata.find((m) => m.name === OUTPUT)
    if (!out || !out.isTensor || out.type !== "float32") {
      return yield* new OnnxError({ file, message: `${file}: expected an output "logits" (float32 [batch, labels]), found ${describe(session.outputMetadata)}` })
    }
    return names
  })

const applyTransform = (row: Float32Array, index: number, transform: OnnxSpec["output"]["transform"]): number => {
  const x = row[index]!
  if (transform === "none") return x
  if (transform === "sigmoid") return 1 / (1 + Math.exp(-x))
  // softmax probability of `index`, shifted by the max for stability
  let max = -Infinity
  for (const v of row) max = Math.max(max, v)
  let z = 0
  for (const v of row) z += Math.exp(v - max)
  return Math.exp(x - max) / z
}

/**
 * Open an ONNX reward model (scoped: the session is released when the scope closes).
 * `fallbackTokenizer` (the task's) is used when neither the spec nor the model's folder names one.
 */
export const openOnnxRewardModel = (
  spec: OnnxSpec,
  fallbackTokenizer?: Tokenizer.Tokenizer
): Effect.Effect<OnnxRewardModel, Errors.OnnxError | Errors.ConfigError | Errors.TokenizerMismatch, Scope.Scope> =>
  Effect.gen(function*() {
    const file = spec.path
    const bytes = yield* Effect.tryPromise({
      try: () => readFile(file),
      catch: (cause) => new OnnxError({ file, cause, message: `cannot read reward model ${file}: ${(cause as Error).message}: check the reward spec's "path"` })
    })
    const tokenizer = yield* resolveTokenizer(spec, fallbackTokenizer)
    // onnxruntime's native library loads with the first ONNX model, not with the scorer (a run
    // with no ONNX reward never loads it).
    const ort: typeof Ort = yield* Effect.promise(() => import("onnxruntime-node"))
    const session = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          ort.InferenceSession.create(bytes, {
            interOpNumThreads: 1,
            ...(spec.threads > 0 ? { intraOpNumThreads: spec.threads } : {})
          }),
        catch: (cause) => new OnnxError({ file, cause, message: `${file} is not a valid ONNX model: ${(cause as Error).message}` })
      }),
      (s) => Effect.promise(() => s.release())
    )
    const inputNames = yield* checkSignature(session, file)

    // The tokenizer must not produce ids past the model's embedding table.
    let rows: number | null = null
    try {
      rows = embeddingRows(bytes)
    } catch {
      rows = null
    }
    if (rows !== null && tokenizer.vocabSize > rows) {
      return yield* new TokenizerMismatch({
        message: `${file}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's embedding has ${rows} rows: use the tokenizer the model was trained with`
      })
    }

    let runs = 0
    const { index, transform } = spec.output

    const encode = (items: ReadonlyArray<{ promptId: string; promptText: string; completionText: string }>) =>
      Effect.forEach(items, (it) =>
        Effect.try({
          try: () => {
            const text = spec.template.replaceAll("{prompt}", it.promptText).replaceAll("{completion}", it.completionText)
            const ids = [...(tokenizer.bosId !== null ? [tokenizer.bosId] : []), ...tokenizer.encode(text)]
            // keep the end: the completion is what is being scored
            return ids.length > spec.maxLength ? ids.slice(ids.length - spec.maxLength) : ids
          },
          catch: (cause) =>
            new InvalidInput({ message: `reward model ${file}: cannot tokenize the completion of prompt ${it.promptId}: ${(cause as Error).message}` })
        }))

    /** One session run over a right-padded batch; returns a reward per row. */
    const runBatch = (batch: ReadonlyArray<ReadonlyArray<number>>, offset: number, promptIds: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const seq = Math.max(1, ...batch.map((ids) => ids.length))
        const ids = new BigInt64Array(batch.length * seq).fill(BigInt(tokenizer.padId))
        const mask = new BigInt64Array(batch.length * seq)
        batch.forEach((row, r) => {
          row.forEach((id, t) => {
            ids[r * seq + t] = BigInt(id)
            mask[r * seq + t] = 1n
          })
          if (row.length === 0) mask[r * seq] = 1n // an empty input still attends to one (pad) token
        })
        const dims = [batch.length, seq]
        const feeds: Record<string, Ort.Tensor> = {
          input_ids: new ort.Tensor("int64", ids, dims),
          attention_mask: new ort.Tensor("int64", mask, dims)
        }
        if (inputNames.includes("token_type_ids")) feeds.token_type_ids = new ort.Tensor("int64", new BigInt64Array(ids.length), dims)
        const out = yield* Effect.tryPromise({
          try: () => session.run(feeds),
          catch: (cause) => new OnnxError({ file, cause, message: `${file}: running the reward model failed: ${(cause as Error).message}` })
        })
        runs++
        const logits = out[OUTPUT]!
        const labels = logits.dims[1] ?? 0
        if (logits.dims.length !== 2 || logits.dims[0] !== batch.length) {
          return yield* new OnnxError({ file, message: `${file}: "logits" has shape [${logits.dims.join(", ")}], expected [${batch.length}, labels]` })
        }
        if (index >= labels) {
          return yield* new OnnxError({ file, message: `${file}: output.index is ${index} but the model has ${labels} label(s): set output.index below ${labels}` })
        }
        const data = logits.data as Float32Array
        const rewards: Array<number> = []
        for (let r = 0; r < batch.length; r++) {
          const reward = applyTransform(data.subarray(r * labels, (r + 1) * labels), index, transform)
          if (!Number.isFinite(reward)) {
            return yield* new OnnxError({ file, message: `${file}: the reward model gave ${reward} for row ${offset + r} (prompt ${promptIds[r]}): check the model's weights` })
          }
          rewards.push(reward)
        }
        return rewards
      })

    const score = Effect.fn("OnnxRewardModel.score")(function*(items: ReadonlyArray<{ promptId: string; promptText: string; completionText: string }>) {
      const encoded = yield* encode(items)
      const out: Array<number> = []
      for (let start = 0; start < encoded.length; start += spec.batchSize) {
        const batch = encoded.slice(start, start + spec.batchSize)
        out.push(...(yield* runBatch(batch, start, items.slice(start, start + spec.batchSize).map((it) => it.promptId))))
      }
      return out
    })

    return {
      id: `onnx:${file}#${index}${transform === "none" ? "" : `:${transform}`}`,
      file,
      tokenizer,
      runs: () => runs,
      score
    }
  })
