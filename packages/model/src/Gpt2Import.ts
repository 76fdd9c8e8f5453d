/**
 * Import a Hugging Face GPT-2 checkpoint directory (config.json + model.safetensors + tokenizer.json)
 * into our Gpt. Our parameters already use GPT-2's names and Conv1D layout, so this is a name
 * check, a shape check and a copy; the differences we refuse are the ones that would change the maths.
 */
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { readFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { checkTokenizer, type LoadedCheckpoint, sha256Hex, weightsFromFile } from "./Checkpoint.ts"
import { Errors } from "@odpo/core"
import { Gpt, type GptConfig } from "./Gpt.ts"
import { fromHfJson } from "./Gpt2Config.ts"
import * as Safetensors from "./Safetensors.ts"
import { loadTokenizer } from "./TokenizerFile.ts"

const { CheckpointCorrupt, CheckpointNotFound } = Errors
type CheckpointCorrupt = Errors.CheckpointCorrupt
type CheckpointNotFound = Errors.CheckpointNotFound
type TokenizerMismatch = Errors.TokenizerMismatch

/** Our GptConfig from a transformers GPT2Config JSON; refuses options our model does not implement. */
export const configFromHf = (raw: Record<string, unknown>, file: string): Effect.Effect<GptConfig, CheckpointCorrupt> =>
  Effect.try({ try: () => fromHfJson(raw, file), catch: (cause) => new CheckpointCorrupt({ path: file, message: (cause as Error).message, cause }) })

const notFound = (path: string, what: string) =>
  new CheckpointNotFound({ path, message: `${path} does not exist: a Hugging Face GPT-2 directory needs ${what}` })

/**
 * Load a GPT-2 checkpoint directory as transformers saves it. Tensor names may carry a
 * `transformer.` prefix; attention-mask buffers (`attn.bias`, `attn.masked_bias`) are skipped; an
 * `lm_head.weight` must equal `wte.weight` (tied). The ref id is the SHA-256 of model.safetensors.
 */
export const loadHfGpt2 = (dir: string): Effect.Effect<LoadedCheckpoint, CheckpointNotFound | CheckpointCorrupt | TokenizerMismatch> =>
  Effect.gen(function*() {
    const path = resolve(dir)
    if (!existsSync(path)) return yield* notFound(path, "config.json, model.safetensors and tokenizer.json")
    const configFile = join(path, "config.json")
    const weightsFile = join(path, "model.safetensors")
    const tokenizerFile = join(path, "tokenizer.json")
    for (const [f, what] of [[configFile, "config.json"], [weightsFile, "model.safetensors (convert a pytorch_model.bin with transformers' save_pretrained(safe_serialization=True))"], [tokenizerFile, "tokenizer.json"]] as const) {
      if (!existsSync(f)) return yield* notFound(f, what)
    }
    const raw = yield* Effect.tryPromise({
      try: async () => JSON.parse(await readFile(configFile, "utf8")) as Record<string, unknown>,
      catch: (cause) => new CheckpointCorrupt({ path: configFile, message: `${configFile} is not valid JSON: ${String(cause)}`, cause })
    })
    const config = yield* configFromHf(raw, configFile)
    const bytes = yield* Safetensors.readFileBytes(weightsFile)
    const file = yield* Safetensors.parseFile(weightsFile, bytes)
    const prefix = file.tensors.has("transformer.wte.weight") ? "transformer." : ""
    const weights = yield* weightsFromFile(file, config, weightsFile, (n) => prefix + n)
    const head = file.tensors.get("lm_head.weight")
    if (head) {
      const lm = Safetensors.readFloat32(file, "lm_head.weight")
      const wte = weights.get("wte.weight")!
      if (lm.length !== wte.length || lm.some((v, i) => v !== wte[i])) {
        return yield* new CheckpointCorrupt({
          path: weightsFile,
          message: `${weightsFile}: lm_head.weight differs from wte.weight; our model ties them, so an untied head cannot be imported`
        })
      }
    }
    const tokenizer = yield* loadTokenizer(path).pipe(
      Effect.mapError((e) => new CheckpointCorrupt({ path: tokenizerFile, message: e.message, cause: e }))
    )
    yield* checkTokenizer(tokenizer, config, tokenizerFile)
    return { ref: { id: sha256Hex(bytes), path }, config, tokenizer, model: new Gpt(config, weights) }
  })
