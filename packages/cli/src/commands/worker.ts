/**
 * `odpo worker --cluster URL`: a rollout worker on Effect Cluster. It joins the cluster whose
 * shard and message storage is the PostgreSQL at URL, takes the sampling and scoring shards the
 * coordinator (`odpo run … --cluster URL`) sends, and answers plain records. It opens no DuckDB.
 */
import { Errors, RolloutWorker } from "@odpo/core"
import { Console, Effect, Layer, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { existsSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { makeCache } from "../CheckpointTransfer.ts"
import { checkClusterUrl, runnerLayer } from "../Cluster.ts"
import { engineLayer } from "../Services.ts"
import { buildId } from "../BuildId.ts"
import { noteInterrupt } from "../Errors.ts"
import { engineFlag, useBackend } from "./shared.ts"

/**
 * Each shard as it is taken: one line on stderr. Crash testing: with ODPO_WORKER_PAUSE set, a
 * shard whose name contains it is then never answered (ODPO_PAUSE_MARKER written), so a test can
 * kill -9 the worker mid-shard.
 */
const onShard = (address: string) => (shard: string) => {
  const line = Effect.sync(() => process.stderr.write(`worker ${address}: ${shard}\n`))
  const at = process.env.ODPO_WORKER_PAUSE
  if (!at || !shard.includes(at)) return line
  return line.pipe(Effect.andThen(Effect.sync(() => {
    if (process.env.ODPO_PAUSE_MARKER) writeFileSync(process.env.ODPO_PAUSE_MARKER, `${process.pid}\n`)
  })), Effect.andThen(Effect.never))
}

export const worker = Command.make(
  "worker",
  {
    cluster: Flag.String("cluster").pipe(Flag.withDescription("PostgreSQL URL of the cluster's shard and message storage (the coordinator's --cluster)")),
    host: Flag.String("host").pipe(Flag.withDescription("address the other runners and the coordinator reach this worker at"), Flag.withDefault("127.0.0.1")),
    port: Flag.Int("port").pipe(Flag.withDescription("port this worker listens on"), Flag.withDefault(34431)),
    backend: engineFlag("runs the policy (must be the run's: a mismatch is refused)"),
    threads: Flag.Int("threads").pipe(Flag.withDescription("onnxruntime intra-op threads (0 = one per core)"), Flag.withDefault(0)),
    cache: Flag.String("cache").pipe(Flag.withDescription("directory for checkpoints fetched from the coordinator"), Flag.optional),
    cacheSize: Flag.Int("cache-size").pipe(Flag.withDescription("checkpoints kept in the cache (least recently used go first)"), Flag.withDefault(4)),
    checkpoints: Flag.String("checkpoints").pipe(
      Flag.withDescription("a shared checkpoint directory (the coordinator's runs/checkpoints) to read instead of fetching"),
      Flag.optional
    )
  },
  Effect.fn(function*({ cluster, host, port, backend, threads, cache, cacheSize, checkpoints }) {
    const url = yield* checkClusterUrl(cluster)
    if (cacheSize < 1) return yield* new Errors.ConfigError({ message: `--cache-size ${cacheSize}: keep at least 1 checkpoint` })
    const shared = Option.getOrNull(Option.map(checkpoints, (d) => resolve(d)))
    if (shared !== null && !existsSync(shared)) return yield* new Errors.ConfigError({ message: `--checkpoints ${shared}: no such directory` })
    const engine = yield* useBackend(Option.getOrElse(backend, () => "auto" as const), threads, undefined, "inference")
    const self = { codeVersion: buildId(), backend: engine.backend, address: `${host}:${port}` }
    const store = makeCache({ dir: Option.getOrElse(cache, () => join(tmpdir(), `odpo-worker-${port}`)), size: cacheSize, shared })
    yield* Console.error(`worker ${self.address}: odpo ${self.codeVersion} on ${engine.backend}, joining the cluster at ${url}`)
    noteInterrupt(`worker ${self.address} stopped; a shard it had not answered goes to another runner`)
    yield* Layer.launch(
      RolloutWorker.layer(self, (source) => store.resolve(source), onShard(self.address)).pipe(
        Layer.provide(engineLayer(engine, threads)),
        Layer.provide(runnerLayer(url, host, port))
      )
    )
  })
).pipe(Command.withDescription("Run a rollout worker: sample and score the shards an `odpo run --cluster` coordinator sends"))
