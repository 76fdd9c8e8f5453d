/**
 * A reward from the user's own TypeScript or JavaScript function, called as TRL calls its
 * reward_funcs: with the batch's prompts, completions and the prompt rows' other columns as
 * named arrays, returning one number per completion (or a Promise of them). A .ts module is
 * compiled by esbuild (bundled, so its own imports come along) into a temporary .mjs file.
 */
import { type Domain, Errors } from "@odpo/core"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { extname, join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { RewardSource } from "./RewardSource.ts"
import type { FunctionSpec } from "./RewardSpec.ts"

/** What the function is called with: one object of arrays, aligned by completion. */
export interface RewardBatch {
  /** Each prompt as its file holds it: text, or a chat's messages (built-in tasks: the prompt text). */
  readonly prompts: ReadonlyArray<unknown>
  readonly completions: ReadonlyArray<string>
  readonly completion_ids: ReadonlyArray<ReadonlyArray<number>>
  readonly finish_reasons: ReadonlyArray<string>
  readonly prompt_ids: ReadonlyArray<string>
  /** Every other column of the prompt rows, by its name. */
  readonly [column: string]: ReadonlyArray<unknown>
}

/** The batch's named arrays; a column a row lacks is null there. */
export const rewardBatch = (items: ReadonlyArray<Domain.ScoreItem>): RewardBatch => {
  const names = new Set(items.flatMap((it) => Object.keys(it.columns ?? {})))
  const reserved = ["prompts", "completions", "completion_ids", "finish_reasons", "prompt_ids"]
  const columns = Object.fromEntries(
    [...names].filter((n) => !reserved.includes(n)).map((n) => [n, items.map((it) => it.columns?.[n] ?? null)])
  )
  return {
    ...columns,
    prompts: items.map((it) => it.prompt ?? it.promptText),
    completions: items.map((it) => it.completionText),
    completion_ids: items.map((it) => it.completionTokenIds),
    finish_reasons: items.map((it) => it.finishReason),
    prompt_ids: items.map((it) => it.promptId)
  }
}

const configError = (message: string) => new Errors.ConfigError({ message, path: "$.reward.module" })

/** The module as something `import()` loads: .ts compiled once per content into the temp directory. */
const loadable = (file: string): Effect.Effect<string, Errors.ConfigError> =>
  Effect.gen(function*() {
    const ext = extname(file).toLowerCase()
    if (ext === ".js" || ext === ".mjs" || ext === ".cjs") return file
    if (ext !== ".ts" && ext !== ".mts") return yield* configError(`reward.module ${file}: expected a .ts, .mts, .js or .mjs file`)
    const digest = createHash("sha256").update(readFileSync(file)).update(file).digest("hex").slice(0, 16)
    const out = join(tmpdir(), "odpo-rewards", `${digest}.mjs`)
    if (existsSync(out)) return out
    const esbuild = yield* Effect.promise(() => import("esbuild"))
    const built = yield* Effect.tryPromise({
      try: () => esbuild.build({ entryPoints: [file], bundle: true, format: "esm", platform: "node", target: "node20", write: false, logLevel: "silent" }),
      catch: (e) => configError(`reward.module ${file} does not compile: ${(e as Error).message}`)
    })
    mkdirSync(join(tmpdir(), "odpo-rewards"), { recursive: true })
    writeFileSync(out, built.outputFiles[0]!.text)
    return out
  })

type RewardFn = (batch: RewardBatch) => unknown

/** The function `spec` names: a missing module, a module that fails to load, or a missing export is a ConfigError. */
export const loadRewardFunction = (spec: FunctionSpec): Effect.Effect<RewardFn, Errors.ConfigError> =>
  Effect.gen(function*() {
    const file = resolve(spec.module)
    if (!existsSync(file)) return yield* configError(`reward.module ${spec.module} does not exist (paths are relative to the working directory)`)
    const path = yield* loadable(file)
    const mod = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(path).href) as Promise<Record<string, unknown>>,
      catch: (e) => configError(`reward.module ${spec.module} fails to load: ${(e as Error).message}`)
    })
    const fn = mod[spec.export]
    if (typeof fn !== "function") {
      const exports = Object.keys(mod).filter((k) => typeof mod[k] === "function")
      return yield* new Errors.ConfigError({
        message: `reward.module ${spec.module} has no function export "${spec.export}"` +
          (exports.length > 0 ? `; its function exports are ${exports.map((e) => `"${e}"`).join(", ")}: set reward.export to one` : ": export one"),
        path: "$.reward.export"
      })
    }
    return fn as RewardFn
  })

/** The source: the function over batches of `spec.batchSize`; a throw or a wrong answer is a RewardError naming the first rollout of the batch. */
export const functionReward = (spec: FunctionSpec, id: string): Effect.Effect<RewardSource, Errors.ConfigError> =>
  Effect.map(loadRewardFunction(spec), (fn): RewardSource => ({
    id,
    score: (items) =>
      Effect.gen(function*() {
        const out: Array<number> = []
        for (let i = 0; i < items.length; i += spec.batchSize) {
          const batch = items.slice(i, i + spec.batchSize)
          const first = batch[0]?.rolloutId ?? batch[0]?.promptId
          const answer = yield* Effect.tryPromise({
            try: async () => await fn(rewardBatch(batch)),
            catch: (cause) =>
              new Errors.RewardError({
                source: id,
                ...(first ? { rolloutId: first } : {}),
                message: `reward ${id} threw on the batch starting at rollout ${first}: ${(cause as Error)?.message ?? String(cause)}`,
                cause
              })
          })
          if (!Array.isArray(answer) || answer.length !== batch.length) {
            return yield* new Errors.RewardError({
              source: id,
              message: `reward ${id} returned ${Array.isArray(answer) ? `${answer.length} values` : JSON.stringify(answer)?.slice(0, 60)} for a batch of ${batch.length} completions (from rollout ${first}): return one number per completion`
            })
          }
          out.push(...(answer as Array<number>))
        }
        return out
      })
  }))
