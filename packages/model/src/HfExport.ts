/**
 * Any odpo checkpoint as a Hugging Face directory that transformers' from_pretrained loads as it
 * is: config.json (the architecture's class and fields), model.safetensors under transformers'
 * tensor names, tokenizer.json with tokenizer_config.json, and generation_config.json. A built-in
 * task's character tokenizer is written as the equivalent WordLevel tokenizer.json.
 */
import { Errors, type Tokenizer as TokenizerModule } from "@odpo/core"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { mkdir, rename, rm, writeFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { entryOf } from "./Architectures.ts"
import type { LoadedCheckpoint } from "./Checkpoint.ts"
import { HfTokenizer } from "./HfTokenizer.ts"
import * as Safetensors from "./Safetensors.ts"

type Tokenizer = TokenizerModule.Tokenizer
const { CheckpointCorrupt } = Errors

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })

/** The character tokenizer (PAD, BOS, EOS, then one id per symbol) as a WordLevel tokenizer.json that encodes to the same ids. */
export const charAsWordLevel = (tokenizer: Tokenizer & { spec?: { symbols: ReadonlyArray<string>; separator?: string } }) => {
  const symbols = tokenizer.spec?.symbols ?? []
  const sep = tokenizer.spec?.separator
  const names = ["<pad>", "<s>", "</s>"]
  const vocab: Record<string, number> = {}
  names.forEach((n, i) => (vocab[n] = i))
  symbols.forEach((s, i) => (vocab[s] = i + 3))
  const preTokenizer = sep !== undefined
    ? { type: "Split", pattern: { String: sep }, behavior: "Removed", invert: false }
    : { type: "FixedLength", length: 1 }
  return {
    json: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: names.map((n, i) => special(i, n)),
      normalizer: null,
      pre_tokenizer: preTokenizer,
      // A prompt starts with <s>, as every built-in task's does.
      post_processor: {
        type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        pair: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
        special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } }
      },
      decoder: null,
      model: { type: "WordLevel", vocab, unk_token: "<pad>" }
    },
    config: { bos_token: "<s>", eos_token: "</s>", pad_token: "<pad>", tokenizer_class: "PreTrainedTokenizerFast", clean_up_tokenization_spaces: false }
  }
}

/** tokenizer.json and tokenizer_config.json of a checkpoint's tokenizer. */
const tokenizerFiles = (tokenizer: Tokenizer): { json: unknown; config: Record<string, unknown> } => {
  if (tokenizer instanceof HfTokenizer) return { json: tokenizer.json, config: { ...tokenizer.config } }
  return charAsWordLevel(tokenizer as Tokenizer & { spec?: { symbols: ReadonlyArray<string>; separator?: string } })
}

export interface ExportOptions {
  /** The safetensors dtype; F32 (default) keeps the weights bit for bit. */
  readonly dtype?: "F32" | "F16" | "BF16"
}

/**
 * Write `loaded` as a Hugging Face directory at `out` (made first under a temporary name and
 * renamed into place, so a failed export leaves nothing half-written). Refuses an existing `out`.
 */
export const exportHfDirectory = (loaded: LoadedCheckpoint, out: string, options: ExportOptions = {}): Effect.Effect<string, Errors.CheckpointCorrupt> =>
  Effect.gen(function*() {
    const dir = resolve(out)
    const fail = (message: string, cause?: unknown) => new CheckpointCorrupt({ path: dir, message, ...(cause !== undefined ? { cause } : {}) })
    if (existsSync(dir)) return yield* fail(`${dir} already exists: name a new directory for the export`)
    const dtype = options.dtype ?? "F32"
    const { model, tokenizer, config } = loaded
    const entry = entryOf(config)
    const weights = yield* Effect.promise(() => model.weights())
    const tensors = entry.parameterShapes(config).map(([name, shape]) => ({ name: entry.hf.tensorName(name), shape, dtype, data: weights.get(name)! }))
    const stops = tokenizer.stopIds ?? (tokenizer.eosId !== null ? [tokenizer.eosId] : [])
    const ids = {
      ...(tokenizer.bosId !== null ? { bos_token_id: tokenizer.bosId } : {}),
      ...(stops.length > 0 ? { eos_token_id: stops.length === 1 ? stops[0] : stops } : {}),
      pad_token_id: tokenizer.padId
    }
    const hfConfig = {
      architectures: [entry.hf.className],
      ...entry.hf.toJson(config),
      ...ids,
      torch_dtype: { F32: "float32", F16: "float16", BF16: "bfloat16" }[dtype],
      transformers_version: "4.46.0"
    }
    const files = tokenizerFiles(tokenizer)
    const tmp = `${dir}.tmp-${process.pid}`
    const write = Effect.tryPromise({
      try: async () => {
        await mkdir(tmp, { recursive: true })
        await writeFile(join(tmp, "model.safetensors"), Safetensors.serialize(tensors, { format: "pt" }))
        await writeFile(join(tmp, "config.json"), JSON.stringify(hfConfig, null, 2) + "\n")
        await writeFile(join(tmp, "tokenizer.json"), JSON.stringify(files.json))
        await writeFile(join(tmp, "tokenizer_config.json"), JSON.stringify(files.config, null, 2) + "\n")
        await writeFile(join(tmp, "generation_config.json"), JSON.stringify({ ...ids, transformers_version: "4.46.0" }, null, 2) + "\n")
        await rename(tmp, dir)
      },
      catch: (cause) => fail(`cannot write the Hugging Face directory ${dir}: ${String((cause as Error)?.message ?? cause)}`, cause)
    })
    yield* write.pipe(Effect.ensuring(Effect.promise(() => rm(tmp, { recursive: true, force: true }))))
    return dir
  })
