/**
 * Checkpoints: a directory `<root>/<sha256>` holding model.safetensors, config.json (the GptConfig
 * plus `odpo: {sha256, dtype, format_version, meta}`) and tokenizer.json. The id is the SHA-256 of
 * the safetensors bytes, so equal weights share one directory and a modified file is caught on load.
 */
import { Effect } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { type Domain, Errors, type Tokenizer as TokenizerModule } from "@odpo/core"
import { entryOf, isArchitecture, parameterShapes, table, unknownArchitecture, validateConfig } from "./Architectures.ts"
import type { CausalLm, ModelConfig } from "./CausalLm.ts"
import * as Safetensors from "./Safetensors.ts"
import { loadTokenizer, saveTokenizer } from "./TokenizerFile.ts"

type CheckpointRef = Domain.CheckpointRef
type Tokenizer = TokenizerModule.Tokenizer
const { CheckpointCorrupt, CheckpointNotFound, TokenizerMismatch } = Errors
type CheckpointCorrupt = Errors.CheckpointCorrupt
type CheckpointNotFound = Errors.CheckpointNotFound
type TokenizerMismatch = Errors.TokenizerMismatch

export interface LoadedCheckpoint {
  readonly ref: CheckpointRef
  readonly model: CausalLm
  readonly tokenizer: Tokenizer
  readonly config: ModelConfig
}

/** Bumped when the directory layout or config.json changes incompatibly. */
export const FORMAT_VERSION = 1

export const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/** The weights as safetensors bytes, in parameterShapes order (F16 halves the file; it loads back as f32). */
export const serializeModel = async (model: CausalLm, dtype: "F32" | "F16" = "F32"): Promise<Uint8Array> => {
  const weights = await model.weights()
  return Safetensors.serialize(
    parameterShapes(model.config).map(([name, shape]) => ({ name, shape, dtype, data: weights.get(name)! })),
    { format: "pt" } // what transformers expects to find in a safetensors header
  )
}

/**
 * Weights for `config` out of a parsed safetensors file. `nameOf` maps our parameter name to the
 * file's (a prefix, for imports). A missing tensor or a wrong shape is CheckpointCorrupt naming it.
 */
export const weightsFromFile = (
  file: Safetensors.SafetensorsFile,
  config: ModelConfig,
  path: string,
  nameOf: (name: string) => string = (n) => n
): Effect.Effect<Map<string, Float32Array>, CheckpointCorrupt> =>
  Effect.try({
    try: () => {
      const out = new Map<string, Float32Array>()
      for (const [name, shape] of parameterShapes(config)) {
        const stored = nameOf(name)
        const info = file.tensors.get(stored)
        const fields = entryOf(config).shapeFields(name)
        if (!info) throw new Error(`tensor ${stored} is missing (its shape [${shape.join(", ")}] comes from ${fields})`)
        if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
          throw new Error(`tensor ${stored} has shape [${info.shape.join(", ")}] but the config needs [${shape.join(", ")}] (${fields})`)
        }
        const values = Safetensors.readFloat32(file, stored)
        out.set(name, values)
      }
      return out
    },
    catch: (cause) =>
      new CheckpointCorrupt({ path, message: `${path}: ${(cause as Error).message}; the weights do not fit the config`, cause })
  })

const corrupt = (path: string, message: string, cause?: unknown) =>
  new CheckpointCorrupt({ path, message, ...(cause !== undefined ? { cause } : {}) })

/** config.json's content: our config, transformers' keys of its architecture (so transformers can read it too), and ours. */
const configJson = (config: ModelConfig, sha256: string, dtype: string, meta: Record<string, unknown>) => ({
  ...config,
  ...entryOf(config).hf.toJson(config),
  odpo: { sha256, dtype, format_version: FORMAT_VERSION, meta }
})

/**
 * Write a checkpoint under `root` and return its ref. Files go to a temp directory first and are
 * renamed into place, so a crash never leaves a half-written `<root>/<sha256>`.
 */
export const saveCheckpoint = (
  root: string,
  model: CausalLm,
  tokenizer: Tokenizer,
  options?: { dtype?: "F32" | "F16"; meta?: Record<string, unknown> }
): Effect.Effect<CheckpointRef, CheckpointCorrupt> =>
  Effect.gen(function*() {
    const dtype = options?.dtype ?? "F32"
    const rootAbs = resolve(root)
    const tmp = join(rootAbs, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`)
    const io = <A>(what: string, f: () => Promise<A>) =>
      Effect.tryPromise({ try: f, catch: (cause) => corrupt(rootAbs, `cannot ${what} under ${rootAbs}: ${String(cause)}`, cause) })
    const bytes = yield* io("read the weights", () => serializeModel(model, dtype))
    const sha = sha256Hex(bytes)
    const dir = join(rootAbs, sha)
    const ref: CheckpointRef = { id: sha, path: dir }
    // Content-addressed: an intact directory of the same weights is already this checkpoint.
    if (yield* isIntact(dir, sha)) return ref
    yield* io("create the checkpoint directory", () => mkdir(tmp, { recursive: true }))
    const write = Effect.gen(function*() {
      yield* io("write model.safetensors", () => writeFile(join(tmp, "model.safetensors"), bytes))
      yield* io("write config.json", () =>
        writeFile(join(tmp, "config.json"), JSON.stringify(configJson(model.config, sha, dtype, options?.meta ?? {}), null, 2) + "\n"))
      yield* saveTokenizer(join(tmp, "tokenizer.json"), tokenizer).pipe(
        Effect.mapError((e) => corrupt(tmp, e.message, e))
      )
      if (existsSync(dir)) {
        // A directory with this name whose files do not hash to it is damaged: replace it.
        if (yield* isIntact(dir, sha)) return
        yield* io("remove a damaged checkpoint", () => rm(dir, { recursive: true, force: true }))
      }
      yield* io("rename the checkpoint into place", () => rename(tmp, dir)).pipe(
        // Another writer may have renamed the same weights into place first: theirs is as good.
        Effect.catch((e) => Effect.flatMap(isIntact(dir, sha), (ok) => (ok ? Effect.void : Effect.fail(e))))
      )
    })
    yield* write.pipe(Effect.ensuring(Effect.promise(() => rm(tmp, { recursive: true, force: true }))))
    return ref
  })

/** True when `dir` holds a model.safetensors whose SHA-256 is `sha` and a config.json that says so. */
const isIntact = (dir: string, sha: string): Effect.Effect<boolean> =>
  Effect.promise(async () => {
    try {
      const cfg = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as { odpo?: { sha256?: string } }
      if (cfg.odpo?.sha256 !== sha || !existsSync(join(dir, "tokenizer.json"))) return false
      return sha256Hex(await readFile(join(dir, "model.safetensors"))) === sha
    } catch {
      return false
    }
  })

export const requireFile = (dir: string, name: string): Effect.Effect<string, CheckpointNotFound> => {
  const file = join(dir, name)
  if (existsSync(file)) return Effect.succeed(file)
  return Effect.fail(
    new CheckpointNotFound({
      path: existsSync(dir) ? file : dir,
      message: existsSync(dir)
        ? `checkpoint ${dir} has no ${name}: it is incomplete; re-create it (or point at a directory written by saveCheckpoint)`
        : `checkpoint directory ${dir} does not exist: check the path (checkpoints live under the run's checkpoint root, named by SHA-256)`
    })
  )
}

/** Parse and validate config.json (the model's config and its recorded hash). */
export const readCheckpointConfig = (dir: string): Effect.Effect<{ ref: CheckpointRef; config: ModelConfig }, CheckpointNotFound | CheckpointCorrupt> =>
  Effect.gen(function*() {
    const path = resolve(dir)
    const file = yield* requireFile(path, "config.json")
    const raw = yield* Effect.tryPromise({
      try: async () => JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>,
      catch: (cause) => corrupt(file, `${file} is not valid JSON: ${String(cause)}; re-create the checkpoint`, cause)
    })
    const odpo = raw.odpo as { sha256?: unknown } | undefined
    if (typeof odpo !== "object" || odpo === null || typeof odpo.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(odpo.sha256)) {
      return yield* corrupt(file, `${file} has no odpo.sha256: it is not an odpo checkpoint (a Hugging Face GPT-2 directory is converted when named as policy.init or odpo sample --policy)`)
    }
    const architecture = raw.architecture ?? "gpt2"
    if (!isArchitecture(architecture)) return yield* corrupt(file, `${unknownArchitecture(architecture, file)}; re-create the checkpoint`)
    const config = yield* Effect.try({
      try: () => table[architecture].fromCheckpointJson(raw, file) as ModelConfig,
      catch: (cause) => corrupt(file, `${(cause as Error).message}; re-create the checkpoint`, cause)
    })
    const problem = validateConfig(config)
    if (problem) return yield* corrupt(file, `${file}: ${problem.replace(/^model\./, "")}; re-create the checkpoint`)
    return { ref: { id: odpo.sha256, path }, config }
  })

/** Load a checkpoint, verifying the weights' SHA-256 and that the tokenizer fits the model. The caller owns (disposes) the model. */
export const loadCheckpoint = (dir: string): Effect.Effect<LoadedCheckpoint, CheckpointNotFound | CheckpointCorrupt | TokenizerMismatch> =>
  Effect.gen(function*() {
    const { ref, config } = yield* readCheckpointConfig(dir)
    const weightsFile = yield* requireFile(ref.path, "model.safetensors")
    const tokenizerFile = yield* requireFile(ref.path, "tokenizer.json")
    const bytes = yield* Safetensors.readFileBytes(weightsFile)
    const actual = sha256Hex(bytes)
    if (actual !== ref.id) {
      return yield* corrupt(
        weightsFile,
        `the SHA-256 of ${weightsFile} (${actual}) does not match the ${ref.id} recorded in config.json: ` +
          `the file was modified or truncated; re-create the checkpoint`
      )
    }
    const file = yield* Safetensors.parseFile(weightsFile, bytes)
    const weights = yield* weightsFromFile(file, config, weightsFile)
    const tokenizer = yield* loadTokenizer(tokenizerFile).pipe(Effect.mapError((e) => corrupt(tokenizerFile, e.message, e)))
    yield* checkTokenizer(tokenizer, config, tokenizerFile)
    return { ref, config, tokenizer, model: entryOf(config).build(config, weights) }
  })

/**
 * A tokenizer must have one id per row of the model's embedding; where the architecture pads its
 * embedding (the Llama family's checkpoints do), at most one.
 */
export const checkTokenizer = (tokenizer: Tokenizer, config: ModelConfig, file: string): Effect.Effect<void, TokenizerMismatch> =>
  tokenizer.vocabSize === config.vocabSize || (entryOf(config).paddedVocabulary && tokenizer.vocabSize < config.vocabSize)
    ? Effect.void
    : Effect.fail(
      new TokenizerMismatch({
        message: `${file} has a vocabulary of ${tokenizer.vocabSize} tokens but the model's vocabSize is ${config.vocabSize}: ` +
          `use the tokenizer the model was trained with`
      })
    )

