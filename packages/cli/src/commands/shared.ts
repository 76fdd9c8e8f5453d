/** Flags and steps several commands share. */
import { RunConfig, RunStore } from "@odpo/core"
import type { Engine } from "@odpo/model"
import { Console, Effect } from "effect"
import { Flag } from "effect/cli"

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

/**
 * The model stack (tfjs and what builds on it) loads when a command needs it, not when `odpo`
 * starts: `odpo --help` and `odpo query` never load it.
 */
export const loadModel = () => Effect.promise(() => import("@odpo/model"))

/** Select the engine and say which it took, on what device (the adapter for webgpu), and any warning. */
export const useBackend = (choice: Engine.BackendChoice) =>
  Effect.gen(function*() {
    const { Engine } = yield* loadModel()
    const taken = yield* Engine.selectBackend(choice)
    yield* Console.error(`backend: ${taken.backend}${choice === "auto" ? " (auto)" : ""} on ${taken.device}`)
    if (taken.warning) yield* Console.error(`warning: ${taken.warning}`)
    return taken
  })
