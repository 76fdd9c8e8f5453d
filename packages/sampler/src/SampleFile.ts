/**
 * `odpo sample` as a function: prompts.jsonl in, rollouts.jsonl out, with the tfjs engine (or
 * onnxruntime's, given `onnx` options).
 * Prompt lines are `{"id": "...", "prompt": "text"}` (or `prompt_id` / `text`); blank lines are
 * skipped; each prompt is tokenized with the checkpoint's tokenizer, BOS first when it has one.
 */
import { type Domain, Errors, type Sampler, type Tokenizer } from "@odpo/core"
import { Checkpoint, Onnx } from "@odpo/model"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import * as OnnxEngine from "./OnnxEngine.ts"
import { sampleWith, type SamplingOptions } from "./Sampling.ts"
import * as TfjsEngine from "./TfjsEngine.ts"

const { InvalidInput } = Errors

export interface SampleFileOptions extends SamplingOptions, TfjsEngine.TfjsEngineOptions {
  /** A checkpoint directory (written by Checkpoint.saveCheckpoint). */
  readonly policyDir: string
  /** JSONL of `{"id", "prompt"}` (or `prompt_id` / `text`). */
  readonly promptsFile: string
  readonly n: number
  readonly params: Domain.SamplingParams
  readonly seed: number
  /** Where the rollouts go, one JSON object per line (Domain.Rollout). */
  readonly out: string
  readonly label?: string
  /** Sample on onnxruntime with this provider and threads (default: tfjs). */
  readonly onnx?: Onnx.OnnxSessions.OnnxOptions
}

export interface SampleFileResult {
  readonly policy: Domain.CheckpointRef
  readonly prompts: number
  /**
   * When params.maxNewTokens is more than the policy's context leaves after a prompt, that
   * prompt's completions stop at the context instead: how many prompts, and the tightest cap.
   */
  readonly capped: { readonly prompts: number; readonly contextLength: number; readonly fewestTokens: number; readonly promptId: string } | null
  readonly rollouts: number
  readonly out: string
}

const field = (o: Record<string, unknown>, names: ReadonlyArray<string>): unknown => {
  for (const n of names) if (n in o) return o[n]
  return undefined
}

/** Parse prompts.jsonl and tokenize every prompt; a bad line is an InvalidInput naming file:line. */
export const readPrompts = (file: string, tokenizer: Tokenizer.Tokenizer): Effect.Effect<Array<Sampler.SamplePrompt & { readonly text: string }>, Errors.InvalidInput> =>
  Effect.gen(function*() {
    const path = resolve(file)
    if (!existsSync(path)) return yield* new InvalidInput({ message: `prompts file ${path} does not exist` })
    const content = yield* Effect.tryPromise({
      try: () => readFile(path, "utf8"),
      catch: (cause) => new InvalidInput({ message: `cannot read prompts file ${path}: ${String(cause)}` })
    })
    const prompts: Array<Sampler.SamplePrompt & { readonly text: string }> = []
    const firstLine = new Map<string, number>()
    const lines = content.split(/\r?\n/)
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim()
      if (line.length === 0) continue
      const where = `${path}:${i + 1}`
      let parsed: unknown
      try {
        parsed = JSON.parse(line)
      } catch (cause) {
        return yield* new InvalidInput({ message: `${where}: not valid JSON (${(cause as Error).message}); each line must be {"id": "...", "prompt": "..."}` })
      }
      const obj = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined
      const id = obj && field(obj, ["id", "prompt_id"])
      const text = obj && field(obj, ["prompt", "text"])
      if ((typeof id !== "string" && typeof id !== "number") || typeof text !== "string") {
        return yield* new InvalidInput({
          message: `${where}: each line must be an object with an "id" (or "prompt_id") and a "prompt" (or "text") string`
        })
      }
      const promptId = String(id)
      const dup = firstLine.get(promptId)
      if (dup !== undefined) return yield* new InvalidInput({ message: `${where}: prompt id ${JSON.stringify(promptId)} was already used on line ${dup}` })
      firstLine.set(promptId, i + 1)
      const encoded = yield* Effect.try({
        try: () => tokenizer.encode(text),
        catch: (cause) => new InvalidInput({ message: `${where}: cannot tokenize the prompt: ${(cause as Error).message}` })
      })
      prompts.push({ promptId, text, tokenIds: tokenizer.bosId === null ? encoded : [tokenizer.bosId, ...encoded] })
    }
    if (prompts.length === 0) return yield* new InvalidInput({ message: `prompts file ${path} has no prompts: add lines like {"id": "p1", "prompt": "..."}` })
    return prompts
  })

/** Sample `n` completions for every prompt of `promptsFile` from the checkpoint at `policyDir`, into `out`. */
export const sampleFile = (options: SampleFileOptions): Effect.Effect<SampleFileResult, Sampler.SamplerError> =>
  Effect.scoped(sampleFileScoped(options))

const sampleFileScoped = Effect.fn("SampleFile.sampleFile")(function*(
  options: SampleFileOptions
) {
  const policy = yield* Effect.acquireRelease(Checkpoint.loadCheckpoint(options.policyDir), (loaded) => Effect.sync(() => loaded.model.dispose()))
  const prompts = yield* readPrompts(options.promptsFile, policy.tokenizer)
  const engine = options.onnx === undefined
    ? TfjsEngine.make(policy.model, policy.tokenizer, options)
    : yield* Effect.gen(function*() {
      const pool = yield* Onnx.OnnxSessions.make(options.onnx!)
      const model = yield* Onnx.OnnxPolicy.hostModelOf(policy.model)
      return OnnxEngine.make(model, yield* OnnxEngine.decodeSessions(pool, model.config), policy.tokenizer)
    })
  const request: Sampler.SampleRequest = {
    policy: policy.ref,
    prompts: prompts.map(({ promptId, tokenIds }) => ({ promptId, tokenIds })),
    n: options.n,
    params: options.params,
    seed: options.seed,
    label: options.label ?? "sample"
  }
  const rollouts = yield* sampleWith(engine, policy.ref.id, request, options)
  const out = resolve(options.out)
  yield* Effect.tryPromise({
    try: async () => {
      await mkdir(dirname(out), { recursive: true })
      // each line is a Domain.Rollout plus its prompt's text (so `odpo score` can read it as is) and
      // token ids (BOS included where the tokenizer adds one), so any log-prob can be recomputed elsewhere
      const byId = new Map(prompts.map((p) => [p.promptId, p]))
      await writeFile(out, rollouts.map((r) => JSON.stringify({ ...r, prompt: byId.get(r.promptId)!.text, promptTokenIds: byId.get(r.promptId)!.tokenIds })).join("\n") + "\n")
    },
    catch: (cause) => new InvalidInput({ message: `cannot write rollouts to ${out}: ${String(cause)}` })
  })
  const C = policy.model.config.contextLength
  const room = prompts.map((p) => ({ promptId: p.promptId, tokens: C - p.tokenIds.length })).filter((r) => r.tokens < options.params.maxNewTokens)
  const tightest = room.reduce<(typeof room)[number] | null>((a, r) => (a === null || r.tokens < a.tokens ? r : a), null)
  const capped = tightest && { prompts: room.length, contextLength: C, fewestTokens: tightest.tokens, promptId: tightest.promptId }
  return { policy: policy.ref, prompts: prompts.length, rollouts: rollouts.length, out, capped }
})
