/** Flags, file reading and steps several commands share. */
import { Errors, RunConfig, RunStore } from "@odpo/core"
import type { Architectures, Backend } from "@odpo/model"
import { Console, Effect, Option } from "effect"
import { Flag } from "effect/cli"
import { readFile } from "node:fs/promises"
import { resolve } from "node:path"

/** A JSON config file's text; a missing file, a directory or an unreadable file is a ConfigError naming it. */
export const readConfigText = (file: string, what: string): Effect.Effect<string, Errors.ConfigError> =>
  Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (cause) => {
      const code = (cause as NodeJS.ErrnoException)?.code
      const message = code === "ENOENT"
        ? `${file}: no such ${what} (see experiments/ for examples)`
        : code === "EISDIR"
        ? `${file} is a directory, not ${/^[aeiou]/.test(what) ? "an" : "a"} ${what}: name the JSON file itself`
        : `${file}: cannot read the ${what}: ${(cause as Error)?.message ?? String(cause)}`
      return new Errors.ConfigError({ message, file })
    }
  })

export const dbFlag = Flag.String("db").pipe(
  Flag.withDescription(`DuckDB file holding the runs (default ${RunStore.defaultDbFile})`),
  Flag.withDefault(RunStore.defaultDbFile)
)

export const formatFlag = Flag.Literals("format", ["table", "csv", "json"]).pipe(
  Flag.withDescription("Output format"),
  Flag.withDefault("table")
)

export const backendFlag = Flag.Literals("backend", RunConfig.Backend.literals).pipe(
  Flag.withDescription("engine that runs the policy (overrides the config's engine.backend)"),
  Flag.optional
)

/** --backend of a command whose input has no engine section (sample, train-rm): `what` it runs, default auto. */
export const engineFlag = (what: string) =>
  Flag.Literals("backend", RunConfig.Backend.literals).pipe(Flag.withDescription(`engine that ${what} (default auto)`), Flag.optional)

/**
 * The model stack (tfjs and what builds on it) loads when a command needs it, not when `odpo`
 * starts: `odpo --help` and `odpo query` never load it.
 */
export const loadModel = () => Effect.promise(() => import("@odpo/model"))

/**
 * Select the engine and say which it took, on what device (the adapter for webgpu), and any
 * warning. `threads`: onnxruntime's intra-op threads (engine.threads; 0 = one per core).
 */
export const useBackend = (choice: Backend.BackendChoice, threads = 0, architecture?: Architectures.Architecture, use: "training" | "inference" = "training") =>
  Effect.gen(function*() {
    const { Backend } = yield* loadModel()
    const taken = yield* Backend.selectBackend(choice, { threads, use, ...(architecture ? { architecture } : {}) })
    yield* Console.error(`backend: ${taken.backend}${choice === "auto" ? " (auto)" : ""} on ${taken.device}`)
    if (taken.warning) yield* Console.error(`warning: ${taken.warning}`)
    return taken
  })

/** `--chat-template FILE`: a Jinja chat template that overrides the tokenizer's (task.chatTemplate). */
export const chatTemplateFlag = Flag.String("chat-template").pipe(
  Flag.withDescription("Jinja chat template for chat prompts (overrides task.chatTemplate and the tokenizer's chat_template)"),
  Flag.optional
)

/** The config with `--chat-template` applied (an absolute path, so a resumed run finds it from anywhere). */
export const withChatTemplate = (config: RunConfig.RunConfig, file: Option.Option<string>): RunConfig.RunConfig =>
  Option.isSome(file) ? { ...config, task: { ...config.task, chatTemplate: resolve(file.value) } } : config
