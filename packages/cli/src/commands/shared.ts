/** Flags several commands share. */
import { RunConfig, RunStore } from "@odpo/core"
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
