/** `odpo run CONFIG` and `odpo resume RUN`: the round loop, recorded in the run store. */
import { Errors, Run, RunConfig, RunStore } from "@odpo/core"
import { Engine } from "@odpo/model"
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { existsSync, readFileSync } from "node:fs"
import { compareRuns } from "./compare.ts"
import { formatTable } from "../Format.ts"
import { checkpointRootFor, experimentLayer, storeLayer } from "../Services.ts"
import { backendFlag, dbFlag } from "./shared.ts"

const readConfigFile = (file: string) =>
  Effect.gen(function*() {
    if (!existsSync(file)) {
      return yield* new Errors.ConfigError({ message: `${file}: no such experiment file (see experiments/ for examples)`, file })
    }
    return yield* RunConfig.parseRunConfig(readFileSync(file, "utf8"), file)
  })

const useBackend = (choice: Engine.BackendChoice, config: RunConfig.RunConfig) =>
  Effect.gen(function*() {
    const taken = yield* Engine.selectBackend(choice, { threads: config.engine.threads })
    // The onnx graphs have no dropout: a run that asks for it trains on tfjs or changes the field.
    if (Engine.isOnnxBackend(taken.backend) && config.policy.model.dropout > 0) {
      return yield* new Errors.ConfigError({
        message: `policy.model.dropout is ${config.policy.model.dropout}, but backend "${taken.backend}" trains without dropout: ` +
          `set policy.model.dropout to 0, or choose --backend cpu`,
        path: "$.policy.model.dropout"
      })
    }
    yield* Console.error(`backend: ${taken.backend}${choice === "auto" ? " (auto)" : ""} on ${taken.device}`)
    return taken
  })

/** Run every unfinished stage, then print the run's round-by-round table. */
const finish = (runId: string, db: string, engine: Engine.EngineInfo) =>
  Effect.gen(function*() {
    yield* Run.runToCompletion(runId, engine)
    yield* Console.log(`\nrun ${runId} finished (${db})`)
    yield* Console.log(formatTable(yield* compareRuns([runId])))
  })

export const run = Command.make(
  "run",
  {
    config: Argument.String("config").pipe(Argument.withDescription("experiment JSON, e.g. experiments/bandit/online.json")),
    db: dbFlag,
    name: Flag.String("name").pipe(Flag.withDescription("run name (default: the config's name)"), Flag.optional),
    seed: Flag.Int("seed").pipe(Flag.withDescription("master seed (default: the config's seed)"), Flag.optional),
    backend: backendFlag
  },
  Effect.fn(function*({ config: file, db, name, seed, backend }) {
    const config = yield* readConfigFile(file)
    const engine = yield* useBackend(Option.getOrElse(backend, () => config.engine.backend), config)
    yield* Effect.gen(function*() {
      const runId = yield* Run.createRun(config, {
        ...(Option.isSome(name) ? { name: name.value } : {}),
        ...(Option.isSome(seed) ? { seed: seed.value } : {}),
        checkpointRoot: checkpointRootFor(db),
        codeVersion: "0.1.0",
        engine
      })
      yield* Console.error(`run ${runId} → ${db} (another terminal: odpo query/compare while it works; odpo resume ${runId} after a crash)`)
      yield* finish(runId, db, engine)
    }).pipe(Effect.provide(experimentLayer(db, engine, config.engine.threads)))
  })
).pipe(Command.withDescription("Run an experiment: R rounds of sample → score → pair → train → evaluate"))

export const resume = Command.make(
  "resume",
  {
    run: Argument.String("run").pipe(Argument.withDescription("run id or name")),
    db: dbFlag,
    backend: backendFlag
  },
  Effect.fn(function*({ run: idOrName, db, backend }) {
    // The run's config says which engine to build the layers on: read it first.
    const row = yield* Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      return yield* store.getRun(idOrName)
    }).pipe(Effect.provide(storeLayer(db)))
    const config = row.config as RunConfig.RunConfig
    const engine = yield* useBackend(Option.getOrElse(backend, () => config.engine.backend), config)
    yield* Console.error(`resuming ${row.runId} at its first unfinished stage`)
    yield* finish(row.runId, db, engine).pipe(Effect.provide(experimentLayer(db, engine, config.engine.threads)))
  })
).pipe(Command.withDescription("Resume a crashed or interrupted run at its first unfinished stage"))
