/**
 * core's Checkpoints service on checkpoint directories: odpo's safetensors checkpoints, and a
 * Hugging Face directory (GPT-2, Llama, Qwen2, Qwen3) wherever a user names a policy (policy.init,
 * reference, `odpo sample --policy`),
 * converted once into an odpo checkpoint under the checkpoint store so that every later use reads
 * (and hashes) our own format.
 */
import { Effect, Layer } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { Checkpoints, Errors } from "@odpo/core"
import { loadCheckpoint, readCheckpointConfig, requireFile, saveCheckpoint, sha256Hex } from "./Checkpoint.ts"
import * as Architectures from "./Architectures.ts"
import type { CausalLm, ModelConfig } from "./CausalLm.ts"
import { architectureOfHf, hfWeightsSha256, isHfDirectory, loadHfDirectory } from "./HfImport.ts"
import { loadTokenizer } from "./TokenizerFile.ts"

type CheckpointError = Checkpoints.CheckpointError
type CheckpointInfo = Checkpoints.CheckpointInfo

/** A config.json that transformers wrote (no odpo section), or undefined. */
const hfConfig = (dir: string): Record<string, unknown> | undefined => {
  try {
    const raw = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>
    return isHfDirectory(raw) ? raw : undefined
  } catch {
    return undefined
  }
}

const info = (ref: CheckpointInfo["ref"], config: ModelConfig, vocabSize: number): CheckpointInfo =>
  ({ ref, model: config as CheckpointInfo["model"], nParams: Architectures.parameterCount(config), tokenizerVocabSize: vocabSize })

/** What a loaded checkpoint is, its weights disposed. */
const withoutWeights = (loaded: { ref: CheckpointInfo["ref"]; config: ModelConfig; tokenizer: { vocabSize: number }; model: CausalLm }): CheckpointInfo => {
  loaded.model.dispose()
  return info(loaded.ref, loaded.config, loaded.tokenizer.vocabSize)
}

const storeError = (path: string, cause: unknown) =>
  new Errors.CheckpointCorrupt({ path, message: `cannot record the import of ${path}: ${(cause as Error)?.message ?? String(cause)}`, cause })

/**
 * Verify `path` as a checkpoint; a Hugging Face directory is converted into `root` first (once:
 * `root/imports/<architecture>-<sha256 of its safetensors>` remembers the checkpoint it became).
 */
export const importCheckpoint = (path: string, root: string): Effect.Effect<CheckpointInfo, CheckpointError> =>
  Effect.gen(function*() {
    const dir = resolve(path)
    const raw = hfConfig(dir)
    if (raw === undefined) return withoutWeights(yield* loadCheckpoint(dir))
    const architecture = yield* architectureOfHf(raw, join(dir, "config.json"))
    const marker = join(root, "imports", `${architecture}-${hfWeightsSha256(dir)}`)
    if (existsSync(marker)) {
      const ckpt = join(root, (yield* Effect.tryPromise({ try: () => readFile(marker, "utf8"), catch: (e) => storeError(marker, e) })).trim())
      if (existsSync(ckpt)) return withoutWeights(yield* loadCheckpoint(ckpt))
    }
    const hf = yield* loadHfDirectory(dir)
    const saved = yield* saveCheckpoint(root, hf.model, hf.tokenizer).pipe(Effect.ensuring(Effect.sync(() => hf.model.dispose())))
    yield* Effect.tryPromise({
      try: async () => {
        await mkdir(join(root, "imports"), { recursive: true })
        await writeFile(marker, `${saved.id}\n`)
      },
      catch: (e) => storeError(marker, e)
    })
    return withoutWeights(yield* loadCheckpoint(saved.path))
  })

/** core's Checkpoints service on checkpoint directories. */
export const layer: Layer.Layer<Checkpoints.Checkpoints> = Layer.succeed(Checkpoints.Checkpoints, Checkpoints.Checkpoints.of({
  initialize: (model, tokenizer, seed, root) =>
    Effect.acquireUseRelease(
      Effect.sync(() => Architectures.init(Architectures.fromPolicyModel(model), seed)),
      (gpt) => saveCheckpoint(root, gpt, tokenizer),
      (gpt) => Effect.sync(() => gpt.dispose())
    ),
  describe: (path) =>
    Effect.gen(function*() {
      const { ref, config } = yield* readCheckpointConfig(path)
      const file = yield* requireFile(ref.path, "tokenizer.json")
      const tokenizer = yield* loadTokenizer(file).pipe(Effect.mapError((e) => new Errors.CheckpointCorrupt({ path: file, message: e.message, cause: e })))
      return info(ref, config, tokenizer.vocabSize)
    }),
  verify: (path) => Effect.map(loadCheckpoint(path), withoutWeights),
  importPolicy: importCheckpoint,
  tokenizer: (path) =>
    loadTokenizer(path).pipe(Effect.mapError((e) => new Errors.CheckpointCorrupt({ path, message: e.message, cause: e })))
}))
