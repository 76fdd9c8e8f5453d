/**
 * Experiment files: JSON decoded as a RunConfig, where `"extends": "<file>"` (a path relative to
 * the file) names a base experiment whose fields this one overrides. The arms of a study then say
 * only how they differ ("loss": {"beta": 5}); the run stores the decoded config in full.
 */
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { ConfigError } from "./Errors.ts"
import { decodeRunConfig, type RunConfig } from "./RunConfig.ts"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

const isObject = (x: unknown): x is Record<string, Json> => typeof x === "object" && x !== null && !Array.isArray(x)

/** `over` on top of `base`: objects merge key by key (recursively); arrays and scalars replace. */
export const overlay = (base: Json, over: Json): Json => {
  if (!isObject(base) || !isObject(over)) return over
  const out: Record<string, Json> = { ...base }
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? overlay(base[k]!, v) : v
  return out
}

/** The file's text; a missing file, a directory or an unreadable file is a ConfigError naming it. */
const readText = (file: string, from?: string): Effect.Effect<string, ConfigError> =>
  Effect.try({
    try: () => readFileSync(file, "utf8"),
    catch: (cause) => {
      const code = (cause as NodeJS.ErrnoException)?.code
      const message = from && code === "ENOENT"
        ? `${from}: $.extends names ${file}, which does not exist (the path is relative to ${from})`
        : code === "ENOENT"
        ? `${file}: no such experiment file (see experiments/ for examples)`
        : code === "EISDIR"
        ? `${file} is a directory, not an experiment file: name the JSON file itself`
        : `${file}: cannot read the experiment file: ${(cause as Error)?.message ?? String(cause)}`
      return new ConfigError({ message, file: from ?? file, ...(from ? { path: "$.extends" } : {}) })
    }
  })

const readJson = (file: string, from?: string): Effect.Effect<Json, ConfigError> =>
  Effect.flatMap(readText(file, from), (text) =>
    Effect.try({
      try: () => JSON.parse(text) as Json,
      catch: (e) => new ConfigError({ message: `${file}: not valid JSON: ${(e as Error).message}`, file })
    }))

/** The task's file fields: relative paths in them are relative to the experiment file that wrote them. */
const TASK_FILES = ["train", "eval", "demonstrations", "tokenizer", "chatTemplate"] as const

/** A reward spec with its function `module` paths (sums included) made absolute against `dir`. */
const rebaseReward = (spec: Json, dir: string): Json => {
  if (!isObject(spec)) return spec
  const out: Record<string, Json> = { ...spec }
  if (spec.type === "function" && typeof spec.module === "string") out.module = resolve(dir, spec.module)
  if (Array.isArray(spec.terms)) out.terms = spec.terms.map((t) => (isObject(t) ? { ...t, source: rebaseReward(t.source!, dir) } : t))
  return out
}

/**
 * The file paths a user's own experiment names — its prompt, demonstration, tokenizer and
 * template files, its reward functions — resolved against the experiment file's directory, so an
 * experiment folder runs from anywhere (`odpo run my-exp/online.json`).
 */
const rebase = (json: Json, dir: string): Json => {
  if (!isObject(json)) return json
  const out: Record<string, Json> = { ...json }
  if (isObject(json.task)) {
    const task: Record<string, Json> = { ...json.task }
    for (const k of TASK_FILES) if (typeof task[k] === "string") task[k] = resolve(dir, task[k] as string)
    out.task = task
  }
  for (const k of ["reward", "gold"] as const) if (json[k] !== undefined) out[k] = rebaseReward(json[k]!, dir)
  return out
}

/** The file's JSON with every `extends` resolved (the key itself removed); a cycle is an error. */
export const resolveExtends = (file: string, chain: ReadonlyArray<string> = []): Effect.Effect<Json, ConfigError> =>
  Effect.gen(function*() {
    const path = resolve(file)
    if (chain.includes(path)) {
      return yield* new ConfigError({ message: `${file}: $.extends forms a cycle (${[...chain, path].join(" → ")}); remove one link`, file, path: "$.extends" })
    }
    const json = rebase(yield* readJson(path, chain.at(-1)), dirname(path))
    if (!isObject(json) || !("extends" in json)) return json
    const { extends: base, ...own } = json
    if (typeof base !== "string") {
      return yield* new ConfigError({ message: `${file}: $.extends must be a file name (a string), got ${JSON.stringify(base)}`, file, path: "$.extends" })
    }
    const parent = yield* resolveExtends(resolve(dirname(path), base), [...chain, path])
    return overlay(parent, own)
  })

/** Read, resolve `extends`, and decode an experiment file; errors name the file and the JSON path. */
export const readRunConfigFile = (file: string): Effect.Effect<RunConfig, ConfigError> =>
  Effect.flatMap(resolveExtends(file), (json) => decodeRunConfig(json, file))
