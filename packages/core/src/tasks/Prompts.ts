/**
 * The `prompts` task: the user's own prompt files (PromptFile.ts reads them through DuckDB). Each
 * row's prompt — text, or a chat rendered by the chat template — is tokenized for the policy; the
 * row's other columns are kept for the reward. A resumed run reads its prompts back from the run
 * store, never from the file (which may have changed since).
 */
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { resolve } from "node:path"
import { chatRenderer, type ChatRenderer, parsePromptValue } from "../ChatTemplate.ts"
import type { Prompt } from "../Domain.ts"
import { ConfigError, InvalidInput } from "../Errors.ts"
import { type DataFile, readDataFile, requireColumn, sha256File } from "../PromptFile.ts"
import type { TaskConfig } from "../RunConfig.ts"
import type { StoredPrompts } from "../RunStore.ts"
import { deriveSeed, mulberry32, shuffled } from "../Seeds.ts"
import type { PromptDataRow } from "../StoreRows.ts"
import { CharTokenizer, type Tokenizer } from "../Tokenizer.ts"
import type { Task, UserPrompts } from "./Task.ts"

/** A policy trained from scratch on the user's text, without a tokenizer named: printable ASCII, newline and tab, one id each. */
export const asciiTokenizer = new CharTokenizer({
  symbols: [...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)), "\n", "\t"]
})

/** What loading the prompts needs besides the config. */
export interface PromptsEnv {
  /** The policy's tokenizer. */
  readonly tokenizer: Tokenizer
  /** The context less sampling.maxNewTokens: the longest prompt that leaves room for a completion. */
  readonly maxPromptTokens: number
  /** task.chatTemplate's text, when named. */
  readonly chatTemplate?: { readonly text: string; readonly source: string }
  /** The run's recorded prompts (resume): used instead of the files when there are any. */
  readonly stored?: StoredPrompts
}

const hash = (...parts: ReadonlyArray<unknown>) => createHash("sha256").update(JSON.stringify(parts)).digest("hex")

/** A prompt's token ids: text gets BOS (when the tokenizer has one); a rendered chat carries its own specials. */
const encodePrompt = (
  value: unknown,
  tokenizer: Tokenizer,
  renderer: ChatRenderer | null,
  where: string
): Effect.Effect<{ text: string; ids: Array<number> }, InvalidInput | ConfigError> =>
  Effect.gen(function*() {
    const parsed = parsePromptValue(value)
    if ("error" in parsed) return yield* new InvalidInput({ message: `${where}: ${parsed.error}` })
    let text: string
    if ("chat" in parsed) {
      if (renderer === null) {
        return yield* new ConfigError({
          message: `${where} is a chat, and the policy's tokenizer has no chat_template (tokenizer_config.json): name a Jinja template file in task.chatTemplate (or --chat-template), or write the prompts as text`,
          path: "$.task.chatTemplate"
        })
      }
      text = yield* Effect.try({
        try: () => renderer.render(parsed.chat),
        catch: (e) => new InvalidInput({ message: `${where}: ${renderer.source} cannot render it: ${(e as Error).message}` })
      })
    } else text = parsed.text
    const ids = yield* Effect.try({
      try: () => tokenizer.encode(text),
      catch: (e) => new InvalidInput({ message: `${where}: cannot tokenize the prompt: ${(e as Error).message}` })
    })
    return { text, ids: "chat" in parsed || tokenizer.bosId === null ? ids : [tokenizer.bosId, ...ids] }
  })

interface Loaded {
  readonly prompts: Array<Prompt>
  readonly data: Map<string, PromptDataRow>
  readonly files: UserPrompts["files"]
}

/** The train and held-out rows of the files, by config: an eval file, or a seeded `evalFraction` of the train file. */
const splitRows = (config: TaskConfig, train: DataFile, evalFile: DataFile | null) => {
  const rows = (file: DataFile) => file.rows.map((row, index) => ({ file, row, index }))
  if (evalFile !== null) return { train: rows(train), heldout: rows(evalFile) }
  const all = rows(train)
  const n = Math.max(1, Math.round(all.length * config.evalFraction))
  if (n >= all.length) return null
  const order = shuffled(all, mulberry32(deriveSeed("prompts", config.seed, "split")))
  const heldout = new Set(order.slice(0, n))
  return { train: all.filter((r) => !heldout.has(r)), heldout: all.filter((r) => heldout.has(r)) }
}

const loadFiles = Effect.fnUntraced(function*(config: TaskConfig, env: PromptsEnv) {
  const train = yield* readDataFile(config.train!, "task.train file")
  const evalFile = config.eval === null ? null : yield* readDataFile(config.eval, "task.eval file")
  for (const [file, what] of [[train, "task.train file"], ...(evalFile ? [[evalFile, "task.eval file"] as const] : [])] as const) {
    yield* requireColumn(file, config.promptColumn, what, "task.promptColumn")
    if (config.idColumn !== null) yield* requireColumn(file, config.idColumn, what, "task.idColumn")
  }
  const split = splitRows(config, train, evalFile)
  if (split === null) {
    return yield* new ConfigError({
      message: `task.evalFraction ${config.evalFraction} of ${train.file}'s ${train.rows.length} rows leaves no train prompts: lower it or name an eval file`,
      path: "$.task.evalFraction"
    })
  }
  const renderer = chatRenderer(env.tokenizer, env.chatTemplate)
  const key = hash(
    train.sha256, evalFile?.sha256 ?? null, config.evalFraction, config.seed, config.promptColumn, config.idColumn, config.overlong,
    env.maxPromptTokens, hash(env.tokenizer.toJSON()), renderer?.source === undefined ? null : env.chatTemplate?.text ?? env.tokenizer.chat?.template
  ).slice(0, 12)
  const loaded: Loaded = { prompts: [], data: new Map(), files: [] }
  const seen = new Map<string, string>()
  const files: Array<UserPrompts["files"][number]> = []
  for (const split_ of ["train", "heldout"] as const) {
    const file = split_ === "train" ? train : evalFile ?? train
    let truncated = 0
    let dropped = 0
    for (const { file: f, row, index } of split[split_]) {
      const where = `${f.file} row ${index + 1}`
      const rawId = config.idColumn === null ? String(index) : row[config.idColumn]
      if (rawId === null || rawId === undefined || (typeof rawId !== "string" && typeof rawId !== "number")) {
        return yield* new InvalidInput({ message: `${where}: id column "${config.idColumn}" holds ${JSON.stringify(rawId)}; ids must be strings or numbers` })
      }
      const id = String(rawId)
      // Row numbers are unique within a split (and the split is part of the prompt id); named ids must be unique across both files.
      if (config.idColumn !== null && seen.has(id)) {
        return yield* new InvalidInput({
          message: `${where}: prompt id "${id}" (column "${config.idColumn}") repeats ${seen.get(id)}: ids must be unique across the train and eval files`
        })
      }
      seen.set(id, where)
      const { text, ids } = yield* encodePrompt(row[config.promptColumn], env.tokenizer, renderer, `${where}, column "${config.promptColumn}"`)
      let tokenIds = ids
      if (ids.length > env.maxPromptTokens) {
        if (config.overlong === "error") {
          return yield* new InvalidInput({
            message: `${where}: the prompt is ${ids.length} tokens, longer than the ${env.maxPromptTokens} the context leaves (contextLength − sampling.maxNewTokens): ` +
              `shorten it, raise the context, or set task.overlong to "truncate" or "drop"`
          })
        }
        if (config.overlong === "drop") {
          dropped++
          continue
        }
        // Keep the prompt's end (nearest the completion), and its BOS when it starts with one.
        const keepBos = env.tokenizer.bosId !== null && ids[0] === env.tokenizer.bosId
        tokenIds = keepBos ? [ids[0]!, ...ids.slice(ids.length - env.maxPromptTokens + 1)] : ids.slice(ids.length - env.maxPromptTokens)
        truncated++
      }
      const promptId = `prompts/${key}/${split_}/${id}`
      const { [config.promptColumn]: prompt, ...columns } = row
      loaded.prompts.push({ promptId, task: "prompts", split: split_, text, tokenIds })
      loaded.data.set(promptId, {
        promptId, ord: loaded.prompts.length - 1, source: f.file, rowIndex: index, prompt, columns, promptTokens: ids.length, truncated: tokenIds !== ids
      })
    }
    const rows = split[split_].length
    files.push({ split: split_, path: resolve(file.file), sha256: file.sha256, promptKey: key, rows, kept: rows - dropped, truncated, dropped })
    if (rows - dropped === 0) {
      return yield* new InvalidInput({ message: `${file.file}: every ${split_} prompt is longer than the context (${dropped} dropped by task.overlong "drop"): nothing is left to ${split_ === "train" ? "train on" : "evaluate"}` })
    }
  }
  for (const f of files) {
    if (f.truncated + f.dropped > 0) {
      yield* Effect.logWarning(`${f.path} (${f.split}): ${f.truncated} prompts truncated, ${f.dropped} dropped: longer than ${env.maxPromptTokens} tokens (prompt_files records the counts)`)
    }
  }
  const demonstrations = config.demonstrations === null ? undefined : yield* loadDemonstrations(config, env, renderer)
  return { ...loaded, files, key, demonstrations }
})

/** Demonstrations for SFT: each row's prompt encoded as the prompts are, its completion's tokens then EOS. */
const loadDemonstrations = Effect.fnUntraced(function*(config: TaskConfig, env: PromptsEnv, renderer: ChatRenderer | null) {
  const file = yield* readDataFile(config.demonstrations!, "task.demonstrations file")
  yield* requireColumn(file, config.promptColumn, "task.demonstrations file", "task.promptColumn")
  yield* requireColumn(file, config.completionColumn, "task.demonstrations file", "task.completionColumn")
  const eos = env.tokenizer.eosId === null ? [] : [env.tokenizer.eosId]
  const sequences = yield* Effect.forEach(file.rows, (row, index) =>
    Effect.gen(function*() {
      const where = `${file.file} row ${index + 1}`
      const prompt = yield* encodePrompt(row[config.promptColumn], env.tokenizer, renderer, `${where}, column "${config.promptColumn}"`)
      const completion = row[config.completionColumn]
      if (typeof completion !== "string") {
        return yield* new InvalidInput({ message: `${where}, column "${config.completionColumn}": expected the completion's text, found ${JSON.stringify(completion)?.slice(0, 80)}` })
      }
      const ids = yield* Effect.try({
        try: () => env.tokenizer.encode(completion),
        catch: (e) => new InvalidInput({ message: `${where}, column "${config.completionColumn}": cannot tokenize the completion: ${(e as Error).message}` })
      })
      return { promptTokenIds: prompt.ids, completionTokenIds: [...ids, ...eos] }
    }))
  return { sha256: file.sha256, sequences }
})

/** The stored prompts of a resumed run, with a warning for each file that changed since they were read. */
const fromStore = Effect.fnUntraced(function*(stored: StoredPrompts) {
  for (const f of stored.files) {
    const now = yield* Effect.sync(() => {
      try {
        return sha256File(f.path)
      } catch {
        return null
      }
    })
    if (now !== f.sha256) {
      yield* Effect.logWarning(
        `${f.path} ${now === null ? "is gone" : "has changed"} since this run read it (sha256 ${f.sha256.slice(0, 12)}…): the run goes on with the prompts it stored, not the file`
      )
    }
  }
  return {
    prompts: stored.prompts.map((p) => p.prompt),
    data: new Map(stored.prompts.map((p) => [p.prompt.promptId, p.data])),
    files: stored.files.map(({ runId: _, ...f }) => f),
    key: stored.files[0]!.promptKey,
    // π₀ is recorded before the prompts are: a run that stored them needs no demonstrations again.
    demonstrations: undefined
  }
})

/** The prompts task of a config: from the run store when the run has recorded its prompts, else from the files. */
export const loadPromptsTask = (config: TaskConfig, env: PromptsEnv): Effect.Effect<Task, InvalidInput | ConfigError> =>
  Effect.gen(function*() {
    const loaded = env.stored !== undefined && env.stored.files.length > 0 ? yield* fromStore(env.stored) : yield* loadFiles(config, env)
    return {
      name: "prompts",
      tokenizer: env.tokenizer,
      defaultMaxNewTokens: 16,
      prompts: (_config, split) => loaded.prompts.filter((p) => p.split === split),
      ...(loaded.demonstrations ? { demonstrations: () => loaded.demonstrations!.sequences } : {}),
      userPrompts: { key: loaded.key, data: loaded.data, files: loaded.files, demonstrationsSha256: loaded.demonstrations?.sha256 ?? null }
    } satisfies Task
  })
