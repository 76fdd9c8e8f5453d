/** The composition root: the layers every command runs on, wired for one database file and one engine. */
import { RunStore, Trainer as CoreTrainer } from "@odpo/core"
import { Checkpoint, Engine, LoadedModels, Onnx } from "@odpo/model"
import { Trainer } from "@odpo/optimizer"
import { OnnxSampler, TfjsSampler } from "@odpo/sampler"
import { RewardScorer } from "@odpo/scorer"
import { Effect, Layer } from "effect"
import { dirname, join, resolve } from "node:path"
import * as CrashPoint from "./CrashPoint.ts"
import { layerTerminal } from "./ProgressBar.ts"

/** Checkpoints live beside the database: runs/odpo.duckdb → runs/checkpoints/. */
export const checkpointRootFor = (db: string) => join(dirname(resolve(db)), "checkpoints")

export const storeLayer = (db: string) => RunStore.RunStore.layer(db)

/** The engine of a command that has not chosen one: tfjs on the CPU. */
export const tfjsCpu: Engine.EngineInfo = { backend: "cpu", device: "cpu (pure JS)" }

/**
 * Sampler and Trainer on the selected engine: onnxruntime's graphs (one session pool for both,
 * released with the layer) for onnx / onnx-webgpu, tfjs for every tfjs backend.
 */
export const engineLayer = (engine: Engine.EngineInfo, threads = 0) => {
  if (!Engine.isOnnxBackend(engine.backend)) return Layer.mergeAll(TfjsSampler.layer, Trainer.layer)
  const trainer = Layer.effect(CoreTrainer.Trainer, Effect.flatMap(Onnx.OnnxPolicyEngine.make(engine.backend), Trainer.make))
  const pool = Onnx.OnnxSessions.OnnxSessionPool.layer({ provider: Engine.onnxProviders[engine.backend], threads })
  return Layer.mergeAll(OnnxSampler.layer, trainer).pipe(Layer.provide(pool))
}

/** Everything the round loop needs. */
export const experimentLayer = (db: string, engine: Engine.EngineInfo = tfjsCpu, threads = 0) =>
  Layer.mergeAll(
    storeLayer(db),
    Checkpoint.layer,
    Layer.provide(engineLayer(engine, threads), LoadedModels.LoadedModels.layer),
    RewardScorer.layer,
    layerTerminal,
    CrashPoint.layerFromEnv()
  )

export { Checkpoint }
