/** The failures a user can meet, one tagged error each; messages name the field or file and say what to do. */
import { Schema } from "effect"

/** An experiment or component config that does not decode; `path` is the JSON path of the bad field. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  message: Schema.String,
  path: Schema.optional(Schema.String),
  file: Schema.optional(Schema.String)
}) {}

/** A tfjs backend that was named but cannot be loaded. */
export class BackendUnavailable extends Schema.TaggedError<BackendUnavailable>()("BackendUnavailable", {
  message: Schema.String,
  backend: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** A checkpoint directory that does not exist or lacks a file. */
export class CheckpointNotFound extends Schema.TaggedError<CheckpointNotFound>()("CheckpointNotFound", {
  message: Schema.String,
  path: Schema.String
}) {}

/** A checkpoint whose files are unreadable, inconsistent, or whose weights fail their SHA-256. */
export class CheckpointCorrupt extends Schema.TaggedError<CheckpointCorrupt>()("CheckpointCorrupt", {
  message: Schema.String,
  path: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** A tokenizer whose vocabulary does not fit the model (or the reward model) it is paired with. */
export class TokenizerMismatch extends Schema.TaggedError<TokenizerMismatch>()("TokenizerMismatch", {
  message: Schema.String
}) {}

/** A tokenizer file that cannot be read or parsed. */
export class TokenizerError extends Schema.TaggedError<TokenizerError>()("TokenizerError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** Bad input to a stage: empty prompt file, prompt longer than the context, n < 1, empty pair set… */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  message: Schema.String
}) {}

/** Anything the run store (DuckDB) refuses; `sql` when a query is at fault. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** A run id or name that is not in the store. */
export class RunNotFound extends Schema.TaggedError<RunNotFound>()("RunNotFound", {
  message: Schema.String,
  run: Schema.String
}) {}

/** The database file is held by another writing process (DuckDB allows one). */
export class StoreLocked extends Schema.TaggedError<StoreLocked>()("StoreLocked", {
  message: Schema.String,
  file: Schema.String
}) {}

/** An ONNX model whose inputs/outputs do not match what the caller feeds, or which produced NaN. */
export class OnnxError extends Schema.TaggedError<OnnxError>()("OnnxError", {
  message: Schema.String,
  file: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect())
}) {}

/** NaN/Inf in a loss or gradient: the round stops and nothing partial is written. */
export class NonFiniteLoss extends Schema.TaggedError<NonFiniteLoss>()("NonFiniteLoss", {
  message: Schema.String,
  step: Schema.Number
}) {}

/** Another process is working on the run: two would compute (and write) the same stages. */
export class RunInProgress extends Schema.TaggedError<RunInProgress>()("RunInProgress", {
  message: Schema.String,
  runId: Schema.String,
  pid: Schema.Number
}) {}

/**
 * A reward source that failed or gave no usable reward: a user's function that threw, a reward
 * server that kept failing, a reward that is missing, NaN or infinite. Names the source (and the
 * rollout, when one is at fault); the stage is not recorded, so `odpo resume` scores it again.
 */
export class RewardError extends Schema.TaggedError<RewardError>()("RewardError", {
  message: Schema.String,
  source: Schema.String,
  rolloutId: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * A rollout worker that cannot take the coordinator's shard: built from another odpo version, or
 * on another engine than the run's (whose numbers would differ in the last bits). Names the worker
 * and what to start instead; the stage is not recorded.
 */
export class WorkerRefused extends Schema.TaggedError<WorkerRefused>()("WorkerRefused", {
  message: Schema.String,
  worker: Schema.String
}) {}

/** The cluster's storage or transport failed (PostgreSQL unreachable, a message that could not be persisted). */
export class ClusterUnavailable extends Schema.TaggedError<ClusterUnavailable>()("ClusterUnavailable", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}
