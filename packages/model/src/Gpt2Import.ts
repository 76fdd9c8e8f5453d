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
import { Gpt, type GptConfig, validateConfig } from "./Gpt.ts"
import * as Safetensors from "./Safetensors.ts"
import { loadTokenizer } from "./TokenizerFile.ts"

const { CheckpointCorrupt, CheckpointNotFound } = Errors
type CheckpointCorrupt = Errors.CheckpointCorrupt
type CheckpointNotFound = Errors.CheckpointNotFound
type TokenizerMismatch = Errors.TokenizerMismatch

/** Activations that are GPT-2's tanh-approximated GELU under another name. */
const TANH_GELU = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"]

/** Our GptConfig from a transformers GPT2Config JSON; refuses options our model does not implement. */
export const configFromHf = (raw: Record<string, unknown>, file: string): Effect.Effect<GptConfig, CheckpointCorrupt> =>
  Effect.suspend(() => {
    const bad = (message: string) => Effect.fail(new CheckpointCorrupt({ path: file, message: `${file}: ${message}` }))
    if (raw.model_type !== undefined && raw.model_type !== "gpt2") {
      return bad(`model_type is ${JSON.stringify(raw.model_type)}; only "gpt2" checkpoints can be imported`)
    }
    const dModel = raw.n_embd as number
    const config: GptConfig = {
      vocabSize: raw.vocab_size as number,
      contextLength: (raw.n_positions ?? raw.n_ctx) as number,
      dModel,
      nLayers: raw.n_layer as number,
      nHeads: raw.n_head as number,
      // Dropout off: DPO-style fine-tuning disables it (as TRL does) so log-probs are deterministic.
      dropout: 0
    }
    const names: Record<keyof GptConfig, string> = {
      vocabSize: "vocab_size", contextLength: "n_positions", dModel: "n_embd", nLayers: "n_layer", nHeads: "n_head", dropout: "dropout"
    }
    for (const k of ["vocabSize", "contextLength", "dModel", "nLayers", "nHeads"] as const) {
      if (!Number.isInteger(config[k]) || config[k] <= 0) return bad(`${names[k]} must be a positive integer (got ${JSON.stringify(config[k])})`)
    }
    const problem = validateConfig(config)
    if (problem) return bad(problem)
    const eps = (raw.layer_norm_epsilon as number | undefined) ?? 1e-5
    if (Math.abs(eps - 1e-5) > 1e-12) return bad(`layer_norm_epsilon is ${eps}; our LayerNorm uses GPT-2's 1e-5`)
    const act = (raw.activation_function as string | undefined) ?? "gelu_new"
    if (!TANH_GELU.includes(act)) return bad(`activation_function is ${JSON.stringify(act)}; our MLP uses GPT-2's tanh GELU (${TANH_GELU.join(", ")})`)
    const inner = raw.n_inner as number | null | undefined
    if (inner !== undefined && inner !== null && inner !== 4 * dModel) return bad(`n_inner is ${inner}; our MLP is 4·n_embd = ${4 * dModel} wide`)
    if (raw.tie_word_embeddings === false) return bad("tie_word_embeddings is false; our model ties the LM head to wte")
    for (const flag of ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"]) {
      if (raw[flag] === true) return bad(`${flag} is true; our attention does not implement it`)
    }
    if (raw.scale_attn_weights === false) return bad("scale_attn_weights is false; our attention always scales by 1/sqrt(head dim)")
    return Effect.succeed(config)
  })

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
