/**
 * Effect Cluster for odpo: the sharding settings (failover in seconds, not the library's
 * half-minute defaults), PostgreSQL through @effect/sql-pg as shard and message storage, and the
 * two ends — a runner (`odpo worker`, NodeClusterSocket) and the coordinator's client.
 */
import { PgClient } from "@effect/sql-pg"
import { NodeClusterSocket } from "@effect/platform-node"
import { ClusterEngine, Errors, type RolloutWorker } from "@odpo/core"
import { Cause, Duration, Effect, Layer, Option, Redacted } from "effect"
import { RunnerAddress } from "effect/cluster"
import { serveCheckpoints } from "./CheckpointTransfer.ts"

/**
 * How fast a dead runner's shards move: its shard locks (PostgreSQL advisory locks, released when
 * its connection drops) expire after 3 s; runners look for new assignments and unprocessed
 * messages every second.
 */
const shardingConfig = {
  shardsPerGroup: 64,
  shardLockRefreshInterval: Duration.seconds(1),
  shardLockExpiration: Duration.seconds(3),
  refreshAssignmentsInterval: Duration.seconds(1),
  entityMessagePollInterval: Duration.millis(500),
  entityReplyPollInterval: Duration.millis(100),
  runnerHealthCheckInterval: Duration.seconds(1),
  // A shard is one request: its entity is done once it answers.
  entityMaxIdleTime: Duration.seconds(30)
}

/** A PostgreSQL URL, checked enough to say what is wrong with a bad --cluster before any connection. */
export const checkClusterUrl = (url: string, flag = "--cluster") =>
  /^postgres(ql)?:\/\/[^/]+/.test(url)
    ? Effect.succeed(url)
    : Effect.fail(new Errors.ConfigError({ message: `${flag} ${url}: not a PostgreSQL URL; give one like postgres://user@127.0.0.1:5432/odpo` }))

const pg = (url: string) => PgClient.layer({ url: Redacted.make(url), applicationName: "odpo", maxConnections: 8 })

/**
 * A cluster layer whose building failed in any way (PostgreSQL refused the connection, the
 * storage migrations failed — the library dies on some of these) as one ClusterUnavailable
 * naming the URL.
 */
const reachable = <A, E, R>(url: string, layer: Layer.Layer<A, E, R>) =>
  Layer.catchCause(layer, (cause) =>
    Layer.effectContext<A, Errors.ClusterUnavailable, never>(Effect.fail(
      new Errors.ClusterUnavailable({
        message: `cannot use the cluster's PostgreSQL at ${url}: ${Cause.pretty(cause).split("\n")[0]}: is it running and reachable from here?`,
        cause
      })
    )))

/** A runner listening on host:port, its storage in PostgreSQL at `url`. */
export const runnerLayer = (url: string, host: string, port: number) =>
  reachable(
    url,
    NodeClusterSocket.layer({
      storage: "sql",
      shardingConfig: { ...shardingConfig, runnerAddress: Option.some(RunnerAddress.make(host, port)) }
    }).pipe(Layer.provide(pg(url)))
  )

/** The coordinator: a client of the cluster (it hosts no entity), its storage in PostgreSQL at `url`. */
export const clientLayer = (url: string) =>
  reachable(url, NodeClusterSocket.layer({ storage: "sql", clientOnly: true, shardingConfig }).pipe(Layer.provide(pg(url))))

/**
 * The coordinator's Sampler and Scorer on the cluster's workers (ClusterEngine), with the
 * checkpoint server on `host` the workers fetch the policy and reference from.
 */
export const coordinatorLayer = (url: string, host: string, require: RolloutWorker.Requirement, shards: number) =>
  Layer.unwrap(Effect.gen(function*() {
    const server = yield* serveCheckpoints(host)
    return ClusterEngine.layer({ require, shards, checkpointUrl: server.url, offer: server.offer }).pipe(Layer.provide(clientLayer(url)))
  }))
