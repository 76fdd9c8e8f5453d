/** Load and save tokenizer.json: our CharTokenizer's `{odpo: "char", …}` or a Hugging Face tokenizer.json. */
import { Effect } from "effect"
import { existsSync, statSync } from "node:fs"
import { readFile, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Errors, Tokenizer as TokenizerModule } from "@odpo/core"
import { type HfGenerationConfig, HfTokenizer, type HfTokenizerConfig } from "./HfTokenizer.ts"

const { TokenizerError } = Errors
type TokenizerError = Errors.TokenizerError
const { CharTokenizer } = TokenizerModule
type Tokenizer = TokenizerModule.Tokenizer

/** The tokenizer.json model types HfTokenizer implements. */
const HF_MODELS = ["BPE", "WordPiece", "Unigram", "WordLevel"]

const where = (file?: string) => (file ? ` in ${file}` : "")

const charFromJson = (j: Record<string, unknown>, file?: string): Tokenizer => {
  const symbols = j.symbols
  if (!Array.isArray(symbols) || symbols.some((s) => typeof s !== "string" || s.length === 0)) {
    throw new Error(`"symbols" must be a list of non-empty strings${where(file)}`)
  }
  const separator = j.separator
  if (separator !== undefined && separator !== null && typeof separator !== "string") {
    throw new Error(`"separator" must be a string or null${where(file)} (got ${JSON.stringify(separator)})`)
  }
  const dup = symbols.find((s, i) => symbols.indexOf(s) !== i)
  if (dup !== undefined) throw new Error(`symbol ${JSON.stringify(dup)} appears twice in "symbols"${where(file)}`)
  return new CharTokenizer({ symbols, ...(typeof separator === "string" ? { separator } : {}) })
}

/**
 * Build a tokenizer from a parsed tokenizer.json. `config` is an optional tokenizer_config.json
 * (Hugging Face only). `file` names the source in error messages.
 */
export const tokenizerFromJson = (
  json: unknown,
  file?: string,
  config?: HfTokenizerConfig,
  generation?: HfGenerationConfig
): Effect.Effect<Tokenizer, TokenizerError> =>
  Effect.try({
    try: (): Tokenizer => {
      if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error(`the tokenizer JSON${where(file)} is not an object`)
      const j = json as Record<string, unknown>
      if (j.odpo === "char") return charFromJson(j, file)
      if (j.odpo !== undefined) throw new Error(`unknown odpo tokenizer kind ${JSON.stringify(j.odpo)}${where(file)} (expected "char")`)
      const model = j.model as { type?: unknown } | undefined
      if (typeof model !== "object" || model === null) {
        throw new Error(`no "model" object${where(file)}: expected a Hugging Face tokenizer.json or {"odpo": "char", "symbols": [...]}`)
      }
      if (!HF_MODELS.includes(model.type as string)) {
        throw new Error(`model type ${JSON.stringify(model.type)}${where(file)} is not supported (${HF_MODELS.join(", ")})`)
      }
      return new HfTokenizer(j, config, generation)
    },
    catch: (cause) =>
      new TokenizerError({
        message: `cannot build a tokenizer from ${file ?? "the given JSON"}: ${(cause as Error)?.message ?? String(cause)}`,
        cause
      })
  })

const readJson = (path: string): Effect.Effect<unknown, TokenizerError> =>
  Effect.tryPromise({
    try: async () => JSON.parse(await readFile(path, "utf8")) as unknown,
    catch: (cause) =>
      new TokenizerError({
        message: (cause as NodeJS.ErrnoException)?.code === "ENOENT"
          ? `tokenizer file ${path} does not exist: pass a tokenizer.json (or a directory holding one)`
          : `cannot read tokenizer file ${path}: ${(cause as Error)?.message ?? String(cause)}`,
        cause
      })
  })

/**
 * Load a tokenizer from a tokenizer.json file, or from a directory holding one. A
 * tokenizer_config.json next to it, when present, names the specials of a Hugging Face tokenizer.
 */
export const loadTokenizer = (path: string): Effect.Effect<Tokenizer, TokenizerError> =>
  Effect.gen(function*() {
    const file = existsSync(path) && statSync(path).isDirectory() ? join(path, "tokenizer.json") : path
    const json = yield* readJson(file)
    const configFile = join(dirname(file), "tokenizer_config.json")
    const config = existsSync(configFile) ? yield* readJson(configFile) : undefined
    if (config !== undefined && (typeof config !== "object" || config === null)) {
      return yield* new TokenizerError({ message: `${configFile} is not a JSON object` })
    }
    // generation_config.json's eos_token_id list: decoding stops at any of them.
    const generationFile = join(dirname(file), "generation_config.json")
    const generation = existsSync(generationFile) ? yield* readJson(generationFile) : undefined
    if (generation !== undefined && (typeof generation !== "object" || generation === null)) {
      return yield* new TokenizerError({ message: `${generationFile} is not a JSON object` })
    }
    return yield* tokenizerFromJson(json, file, config as HfTokenizerConfig | undefined, generation as HfGenerationConfig | undefined)
  })

/** Write a tokenizer as tokenizer.json at `path` (and tokenizer_config.json beside it for a Hugging Face one that has a config). */
export const saveTokenizer = (path: string, tokenizer: Tokenizer): Effect.Effect<void, TokenizerError> =>
  Effect.tryPromise({
    try: async () => {
      await writeFile(path, JSON.stringify(tokenizer.toJSON()))
      if (tokenizer instanceof HfTokenizer && Object.keys(tokenizer.config).length > 0) {
        await writeFile(join(dirname(path), "tokenizer_config.json"), JSON.stringify(tokenizer.config, null, 2))
      }
      if (tokenizer instanceof HfTokenizer && Object.keys(tokenizer.generation).length > 0) {
        await writeFile(join(dirname(path), "generation_config.json"), JSON.stringify(tokenizer.generation, null, 2))
      }
    },
    catch: (cause) => new TokenizerError({ message: `cannot write tokenizer file ${path}: ${String(cause)}`, cause })
  })
