/** The composition root: the layers every command runs on, wired for one database file and one engine. */
import { CodeBuild, RunStore } from "@odpo/core"
import type { Backend } from "@odpo/model"
import { Effect, Layer } from "effect"
import { dirname, join, resolve } from "node:path"
import { buildId } from "./BuildId.ts"
import * as CrashPoint from "./CrashPoint.ts"
import { layerTerminal } from "./ProgressBar.ts"

/** Checkpoints live beside the database: runs/odpo.duckdb → runs/checkpoints/. */
export const checkpointRootFor = (db: string) => join(dirname(resolve(db)), "checkpoints")

/** The run store on `db`; read commands pass `{create: false}`, so a mistyped --db is an error rather than a new empty file. */
export const storeLayer = (db: string, options: RunStore.LayerOptions = {}) => RunStore.RunStore.layer(db, options)

/** The engine of a command that has not chosen one: tfjs on the CPU. */
export const tfjsCpu: Backend.EngineInfo = { backend: "cpu", device: "cpu (pure JS)" }

/**
 * The engines of a command, without the run store: Sampler and Trainer on the selected engine
 * (onnxruntime's graphs — one session pool for both, released with the layer; `threads` intra-op
 * threads — for onnx / onnx-webgpu, tfjs for every tfjs backend), the checkpoint store and the
 * reward scorer, and this build's id (CodeBuild: runs.code_version, the SFT cache key). The
 * engines load when a command builds it (not at `odpo` start). A rollout worker (`odpo worker`)
 * runs on this alone: it never opens DuckDB.
 */
export const engineLayer = (engine: Backend.EngineInfo = tfjsCpu, threads = 0) =>
  Layer.unwrap(Effect.promise(async () => {
    const [{ Backend, CheckpointStore, LoadedModels, Onnx }, { Trainer }, { OnnxSampler, TfjsSampler }, { RewardScorer }, { Trainer: CoreTrainer }] =
      await Promise.all([import("@odpo/model"), import("@odpo/optimizer"), import("@odpo/sampler"), import("@odpo/scorer"), import("@odpo/core")])
    const engineLayers = Backend.isOnnxBackend(engine.backend)
      ? Layer.mergeAll(
        OnnxSampler.layer,
        Layer.effect(CoreTrainer.Trainer, Effect.flatMap(Onnx.OnnxPolicyEngine.make(engine.backend), Trainer.make))
      ).pipe(Layer.provide(Onnx.OnnxSessions.OnnxSessionPool.layer({ provider: Backend.onnxProviders[engine.backend], threads })))
      : Layer.mergeAll(TfjsSampler.layer, Trainer.layer)
    return Layer.mergeAll(
      CheckpointStore.layer,
      Layer.provide(engineLayers, LoadedModels.LoadedModels.layer),
      RewardScorer.layer,
      layerTerminal,
      Layer.succeed(CodeBuild.CodeBuild, buildId())
    )
  }))

/** Everything the round loop needs: the run store on `db` and the engines (engineLayer). */
export const experimentLayer = (db: string, options: RunStore.LayerOptions = {}, engine: Backend.EngineInfo = tfjsCpu, threads = 0) =>
  Layer.mergeAll(storeLayer(db, options), engineLayer(engine, threads), CrashPoint.layerFromEnv())
