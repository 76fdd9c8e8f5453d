/** `odpo run CONFIG` and `odpo resume RUN`: the round loop, recorded in the run store. */
import { ConfigFile, Errors, Run, RunConfig, RunStore } from "@odpo/core"
import type { Backend } from "@odpo/model"
import { Console, Effect, Layer, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { compareRuns } from "./compare.ts"
import { formatTable, shellQuote } from "../Format.ts"
import { goldSparklines } from "../Sparkline.ts"
import { checkClusterUrl, coordinatorLayer } from "../Cluster.ts"
import { checkpointRootFor, experimentLayer, storeLayer } from "../Services.ts"
import { noteInterrupt } from "../Errors.ts"
import { buildId } from "../BuildId.ts"
import { backendFlag, chatTemplateFlag, dbFlag, useBackend, withChatTemplate } from "./shared.ts"

/** The experiment file, its `extends` chain resolved (ConfigFile.ts). */
const readConfigFile = ConfigFile.readRunConfigFile

/**
 * The run `odpo resume` continues: the run with that id, else the newest run of that name that is
 * not finished (a crashed or interrupted one), else the newest of that name.
 */
export const resumableRun = (idOrName: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const runs = yield* store.listRuns()
    const named = runs.filter((r) => r.name === idOrName)
    return runs.find((r) => r.runId === idOrName) ?? named.filter((r) => r.status !== "finished").at(-1) ?? named.at(-1) ??
      (yield* store.getRun(idOrName))
  })

/** The command that resumes `runId`, quoted for a POSIX shell. */
const resumeHint = (runId: string, db: string) =>
  `odpo resume ${shellQuote(runId)}${db === RunStore.defaultDbFile ? "" : ` --db ${shellQuote(db)}`}`

/** "round r, stage s": the stage an interrupted run was working on (the one after the last recorded). */
const whereStopped = (runId: string) =>
  Effect.gen(function*() {
    const store = yield* RunStore.RunStore
    const rounds = yield* store.listRounds(runId)
    const last = rounds[rounds.length - 1]
    if (!last) return "round 0, stage started"
    // A preference round makes pairs, a policy-gradient round advantages: the run's own stage list.
    const rl = RunConfig.isPolicyGradient((yield* store.getRun(runId)).loss as RunConfig.LossName)
    const own = RunStore.stages.filter((s) => s !== (rl ? "pairs" : "advantages"))
    const next = last.round === 0 && last.stage === "started" ? "eval" : own[own.indexOf(last.stage) + 1]
    return next ? `round ${last.round}, stage ${next}` : `round ${last.round + 1}, stage started`
  })

/**
 * The engine a run goes on (engine.threads reaches onnxruntime). The onnx graphs have no dropout:
 * a run that asks for it trains on tfjs or changes the field.
 */
export const engineFor = (choice: RunConfig.Backend, config: RunConfig.RunConfig) =>
  Effect.gen(function*() {
    // The policy's architecture decides whether the onnx engine can take it.
    const { HfImport } = yield* Effect.promise(() => import("@odpo/model"))
    const architecture = config.policy.init !== null ? HfImport.architectureOfDirectory(config.policy.init) : config.policy.model.architecture
    const engine = yield* useBackend(choice, config.engine.threads, architecture)
    if ((engine.backend === "onnx" || engine.backend === "onnx-webgpu") && config.policy.model.dropout > 0) {
      return yield* new Errors.ConfigError({
        message: `policy.model.dropout is ${config.policy.model.dropout}, but backend "${engine.backend}" trains without dropout: ` +
          `set policy.model.dropout to 0, or choose --backend cpu`,
        path: "$.policy.model.dropout"
      })
    }
    return engine
  })

const clusterFlag = Flag.String("cluster").pipe(
  Flag.withDescription("PostgreSQL URL of the Effect Cluster whose `odpo worker`s sample and score (overrides engine.cluster)"),
  Flag.optional
)
const clusterHostFlag = Flag.String("cluster-host").pipe(
  Flag.withDescription("address the workers reach this process's checkpoint server at"),
  Flag.withDefault("127.0.0.1")
)
const shardsFlag = Flag.Int("shards").pipe(Flag.withDescription("shards a stage's prompts are split into on the cluster"), Flag.withDefault(6))

/**
 * The layers a run goes on: in this process, or — with a cluster URL — with its Sampler and
 * Scorer on the cluster's workers (the trainer and the one DuckDB writer stay here).
 */
const layersFor = (
  db: string, options: RunStore.LayerOptions, engine: Backend.EngineInfo, config: RunConfig.RunConfig,
  cluster: Option.Option<string>, host: string, shards: number
) =>
  Effect.gen(function*() {
    const local = experimentLayer(db, options, engine, config.engine.threads)
    const url = Option.orElse(cluster, () => Option.fromUndefinedOr(config.engine.cluster))
    if (Option.isNone(url)) return local
    yield* checkClusterUrl(url.value)
    if (shards < 1) return yield* new Errors.ConfigError({ message: `--shards ${shards}: split a stage into at least 1 shard` })
    yield* Console.error(`sampling and scoring on the cluster at ${url.value} (${shards} shards a stage)`)
    return Layer.merge(local, coordinatorLayer(url.value, host, { codeVersion: buildId(), backend: engine.backend }, shards))
  })

/** Run every unfinished stage, then print the run's round-by-round table. */
const finish = (runId: string, db: string, engine: Backend.EngineInfo) =>
  Effect.gen(function*() {
    yield* Run.runToCompletion(runId, engine).pipe(
      // Ctrl-C, SIGTERM, or the launcher dying (Orphan.ts): say where, and how to go on.
      Effect.onInterrupt(() =>
        whereStopped(runId).pipe(
          Effect.orElseSucceed(() => "an unfinished stage"),
          Effect.flatMap((where) => Effect.sync(() => noteInterrupt(`interrupted in ${where}: \`${resumeHint(runId, db)}\``)))
        ))
    )
    yield* Console.log(`\nrun ${runId} finished (${db})`)
    const table = yield* compareRuns([runId])
    yield* Console.log(`${formatTable(table)}\n${goldSparklines(table)}`)
  })

export const run = Command.make(
  "run",
  {
    config: Argument.String("config").pipe(Argument.withDescription("experiment JSON, e.g. experiments/bandit/online.json")),
    db: dbFlag,
    name: Flag.String("name").pipe(Flag.withDescription("run name (default: the config's name)"), Flag.optional),
    seed: Flag.Int("seed").pipe(Flag.withDescription("master seed (default: the config's seed)"), Flag.optional),
    backend: backendFlag,
    chatTemplate: chatTemplateFlag,
    cluster: clusterFlag,
    clusterHost: clusterHostFlag,
    shards: shardsFlag
  },
  Effect.fn(function*({ config: file, db, name, seed, backend, chatTemplate, cluster, clusterHost, shards }) {
    const config = withChatTemplate(yield* readConfigFile(file), chatTemplate)
    const engine = yield* engineFor(Option.getOrElse(backend, () => config.engine.backend), config)
    const layers = yield* layersFor(db, {}, engine, config, cluster, clusterHost, shards)
    yield* Effect.gen(function*() {
      const runId = yield* Run.createRun(config, {
        ...(Option.isSome(name) ? { name: name.value } : {}),
        ...(Option.isSome(seed) ? { seed: seed.value } : {}),
        checkpointRoot: checkpointRootFor(db),
        engine
      })
      yield* Console.error(`run ${runId} → ${db} (another terminal: odpo query/compare while it works; ${resumeHint(runId, db)} after a crash)`)
      yield* finish(runId, db, engine)
    }).pipe(Effect.provide(layers))
  })
).pipe(Command.withDescription("Run an experiment: R rounds of sample → score → pair (RL: advantages) → train → evaluate"))

export const resume = Command.make(
  "resume",
  {
    run: Argument.String("run").pipe(Argument.withDescription("run id or name")),
    db: dbFlag,
    backend: backendFlag,
    cluster: clusterFlag,
    clusterHost: clusterHostFlag,
    shards: shardsFlag
  },
  Effect.fn(function*({ run: idOrName, db, backend, cluster, clusterHost, shards }) {
    // The run's row says which engine to build the layers on: read it first.
    const row = yield* resumableRun(idOrName).pipe(Effect.provide(storeLayer(db, { create: false })))
    const config = row.config as RunConfig.RunConfig
    // The backend the run was on, unless told otherwise: another engine's numbers differ in the
    // last bits, and a resumed run must end with the rows an uninterrupted one writes.
    const recorded = RunConfig.Backend.literals.find((b) => b === row.backend)
    const engine = yield* engineFor(Option.getOrElse(backend, () => recorded ?? config.engine.backend), config)
    yield* Console.error(`resuming ${row.runId} at its first unfinished stage`)
    yield* finish(row.runId, db, engine).pipe(Effect.provide(yield* layersFor(db, { create: false }, engine, config, cluster, clusterHost, shards)))
  })
).pipe(Command.withDescription("Resume a crashed or interrupted run at its first unfinished stage"))
