/**
 * A Hugging Face model directory of any architecture odpo has, as transformers' save_pretrained
 * writes it: config.json (the `architectures` class or `model_type` picks the table entry),
 * model.safetensors or a sharded model.safetensors.index.json (F32 / F16 / BF16, upcast to f32),
 * tokenizer.json with tokenizer_config.json and generation_config.json. GPT-2 keeps its own loader
 * (Gpt2Import.ts: the `transformer.` prefix, attention buffers, the tied head).
 */
import { Errors } from "@odpo/core"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { type Architecture, entryOf, fromHfClassName, isArchitecture, table, unknownArchitecture } from "./Architectures.ts"
import type { ModelConfig } from "./CausalLm.ts"
import { checkTokenizer, type LoadedCheckpoint } from "./Checkpoint.ts"
import { loadHfGpt2 } from "./Gpt2Import.ts"
import * as Safetensors from "./Safetensors.ts"
import { loadTokenizer } from "./TokenizerFile.ts"

const { CheckpointCorrupt, CheckpointNotFound } = Errors
type CheckpointCorrupt = Errors.CheckpointCorrupt
type CheckpointNotFound = Errors.CheckpointNotFound
type TokenizerMismatch = Errors.TokenizerMismatch
type HfError = CheckpointNotFound | CheckpointCorrupt | TokenizerMismatch

/** The float dtypes a checkpoint may hold; anything else is quantised or not a weight. */
const FLOAT_DTYPES = ["F32", "F16", "BF16"]

const corrupt = (path: string, message: string, cause?: unknown) =>
  new CheckpointCorrupt({ path, message, ...(cause !== undefined ? { cause } : {}) })

const readJson = (file: string): Effect.Effect<Record<string, unknown>, CheckpointCorrupt> =>
  Effect.tryPromise({
    try: async () => JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>,
    catch: (cause) => corrupt(file, `${file} is not valid JSON: ${String(cause)}`, cause)
  })

/** A config.json written by transformers (no odpo section), of an architecture we may or may not have. */
export const isHfDirectory = (raw: Record<string, unknown>): boolean =>
  raw.odpo === undefined && (typeof raw.model_type === "string" || Array.isArray(raw.architectures))

/** The architecture a transformers config.json names; an unknown one is an error listing those there are. */
export const architectureOfHf = (raw: Record<string, unknown>, file: string) => {
  const cls = Array.isArray(raw.architectures) ? raw.architectures[0] : undefined
  const fromClass = typeof cls === "string" ? fromHfClassName(cls) : undefined
  if (fromClass) return Effect.succeed(fromClass)
  if (cls === undefined && isArchitecture(raw.model_type)) return Effect.succeed(raw.model_type)
  return Effect.fail(corrupt(file, unknownArchitecture(cls ?? raw.model_type, `${file}: architectures[0]`)))
}

/** Refuse quantised tensors by name before parsing (the parser would only say the dtype is unknown). */
const refuseQuantised = (file: string, bytes: Uint8Array): Effect.Effect<void, CheckpointCorrupt> =>
  Effect.suspend(() => {
    if (bytes.length < 8) return Effect.void // the parser names a truncated file
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
    let header: Record<string, { dtype?: unknown }>
    try {
      header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))
    } catch {
      return Effect.void
    }
    for (const [name, info] of Object.entries(header)) {
      if (name === "__metadata__" || FLOAT_DTYPES.includes(info?.dtype as string)) continue
      return Effect.fail(corrupt(file, `${file}: tensor ${name} is ${String(info?.dtype)}: quantised weights (F8, I8, U8, GGUF) are not supported; use an F32, F16 or BF16 checkpoint`))
    }
    return Effect.void
  })

/** SHA-256 over a directory's safetensors bytes (model.safetensors, or the index's shards in order); "missing" when unreadable. */
export const hfWeightsSha256 = (dir: string): string => {
  try {
    const single = join(dir, "model.safetensors")
    if (existsSync(single)) return createHash("sha256").update(readFileSync(single)).digest("hex")
    const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> }
    const hash = createHash("sha256")
    for (const f of new Set(Object.values(index.weight_map))) hash.update(readFileSync(join(dir, f)))
    return hash.digest("hex")
  } catch {
    return "missing"
  }
}

export interface WeightFiles {
  /** Every tensor's file, parsed. */
  readonly lookup: (name: string) => { file: Safetensors.SafetensorsFile; path: string } | undefined
  /** SHA-256 over the files' bytes in order: the directory's identity. */
  readonly sha256: string
  readonly paths: ReadonlyArray<string>
}

/** model.safetensors, or the shards model.safetensors.index.json names (a missing shard names the index). */
export const readWeightFiles = (dir: string): Effect.Effect<WeightFiles, HfError> =>
  Effect.gen(function*() {
    const single = join(dir, "model.safetensors")
    const index = join(dir, "model.safetensors.index.json")
    let paths: Array<string>
    let weightMap: Record<string, string> | undefined
    if (existsSync(single)) paths = [single]
    else if (existsSync(index)) {
      const raw = yield* readJson(index)
      const map = raw.weight_map
      if (typeof map !== "object" || map === null) return yield* corrupt(index, `${index}: weight_map must be an object of tensor name → file`)
      weightMap = map as Record<string, string>
      paths = [...new Set(Object.values(weightMap))].map((f) => join(dir, f))
      for (const p of paths) {
        if (!existsSync(p)) return yield* new CheckpointNotFound({ path: p, message: `${index}: weight_map names ${p}, which does not exist: the download is incomplete` })
      }
    } else {
      const gguf = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith(".gguf")) : undefined
      return yield* new CheckpointNotFound({
        path: single,
        message: gguf
          ? `${join(dir, gguf)}: GGUF (quantised) files are not supported; use the model's safetensors checkpoint (F32, F16 or BF16)`
          : `${dir} has neither model.safetensors nor model.safetensors.index.json: a Hugging Face directory needs its weights as safetensors`
      })
    }
    const hash = createHash("sha256")
    const files = new Map<string, Safetensors.SafetensorsFile>()
    for (const p of paths) {
      const bytes = yield* Safetensors.readFileBytes(p)
      yield* refuseQuantised(p, bytes)
      hash.update(bytes)
      files.set(p, yield* Safetensors.parseFile(p, bytes))
    }
    const lookup = (name: string) => {
      if (weightMap) {
        const f = weightMap[name]
        if (f === undefined) return undefined
        const path = join(dir, f)
        const file = files.get(path)!
        return file.tensors.has(name) ? { file, path } : undefined
      }
      const file = files.get(single)!
      return file.tensors.has(name) ? { file, path: single } : undefined
    }
    return { lookup, sha256: hash.digest("hex"), paths }
  })

/** Every parameter of `config` out of the weight files; a missing or misshapen tensor names the config fields its shape comes from. */
export const weightsOf = (files: WeightFiles, config: ModelConfig, where: string): Effect.Effect<Map<string, Float32Array>, CheckpointCorrupt> =>
  Effect.try({
    try: () => {
      const entry = entryOf(config)
      const out = new Map<string, Float32Array>()
      for (const [name, shape] of entry.parameterShapes(config)) {
        const hit = files.lookup(name)
        const fields = entry.shapeFields(name)
        if (!hit) throw new Error(`tensor ${name} is missing (its shape [${shape.join(", ")}] comes from config.json's ${fields})`)
        const info = hit.file.tensors.get(name)!
        if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
          throw new Error(`${hit.path}: tensor ${name} has shape [${info.shape.join(", ")}] but config.json's ${fields} gives [${shape.join(", ")}]`)
        }
        out.set(name, Safetensors.readFloat32(hit.file, name))
      }
      return out
    },
    catch: (cause) => corrupt(where, `${where}: ${(cause as Error).message}`, cause)
  })

/**
 * Load a Hugging Face directory. The ref id is the SHA-256 of its safetensors bytes (all shards
 * in order); the caller owns (disposes) the model.
 */
export const loadHfDirectory = (dir: string): Effect.Effect<LoadedCheckpoint, HfError> =>
  Effect.gen(function*() {
    const path = resolve(dir)
    const configFile = join(path, "config.json")
    if (!existsSync(configFile)) {
      return yield* new CheckpointNotFound({ path: configFile, message: `${configFile} does not exist: a Hugging Face directory needs config.json, its safetensors and tokenizer.json` })
    }
    const raw = yield* readJson(configFile)
    const architecture = yield* architectureOfHf(raw, configFile)
    if (architecture === "gpt2") return yield* loadHfGpt2(path)
    const config = yield* Effect.try({
      try: () => table[architecture].hf.fromJson(raw, configFile) as ModelConfig,
      catch: (cause) => corrupt(configFile, (cause as Error).message, cause)
    })
    const problem = entryOf(config).validate(config)
    if (problem) return yield* corrupt(configFile, `${configFile}: ${problem}`)
    const files = yield* readWeightFiles(path)
    const weights = yield* weightsOf(files, config, path)
    const tokenizerFile = join(path, "tokenizer.json")
    if (!existsSync(tokenizerFile)) return yield* new CheckpointNotFound({ path: tokenizerFile, message: `${tokenizerFile} does not exist: a Hugging Face directory needs its tokenizer.json` })
    const tokenizer = yield* loadTokenizer(path).pipe(Effect.mapError((e) => corrupt(tokenizerFile, e.message, e)))
    yield* checkTokenizer(tokenizer, config, tokenizerFile)
    return { ref: { id: files.sha256, path }, config, tokenizer, model: entryOf(config).build(config, weights) }
  })

/**
 * The architecture of a checkpoint directory (odpo's or Hugging Face's), read from its config.json
 * without loading weights; undefined when it cannot be told (loading it then says why).
 */
export const architectureOfDirectory = (dir: string): Architecture | undefined => {
  try {
    const raw = JSON.parse(readFileSync(join(resolve(dir), "config.json"), "utf8")) as Record<string, unknown>
    if (!isHfDirectory(raw)) return isArchitecture(raw.architecture ?? "gpt2") ? (raw.architecture ?? "gpt2") as Architecture : undefined
    const cls = Array.isArray(raw.architectures) ? raw.architectures[0] : undefined
    return (typeof cls === "string" ? fromHfClassName(cls) : undefined) ?? (isArchitecture(raw.model_type) ? raw.model_type : undefined)
  } catch {
    return undefined
  }
}
