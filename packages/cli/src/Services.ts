/** The composition root: the layers every command runs on, wired for one database file. */
import { RunStore } from "@odpo/core"
import { Effect, Layer } from "effect"
import { dirname, join, resolve } from "node:path"
import * as CrashPoint from "./CrashPoint.ts"
import { layerTerminal } from "./ProgressBar.ts"

/** Checkpoints live beside the database: runs/odpo.duckdb → runs/checkpoints/. */
export const checkpointRootFor = (db: string) => join(dirname(resolve(db)), "checkpoints")

/** The run store on `db`; read commands pass `{create: false}`, so a mistyped --db is an error rather than a new empty file. */
export const storeLayer = (db: string, options: RunStore.LayerOptions = {}) => RunStore.RunStore.layer(db, options)

/** Everything the round loop needs; the engines load when a command builds it (not at `odpo` start). */
export const experimentLayer = (db: string, options: RunStore.LayerOptions = {}) =>
  Layer.unwrap(Effect.promise(async () => {
    const [{ CheckpointStore, LoadedModels }, { Trainer }, { TfjsSampler }, { RewardScorer }] = await Promise.all([
      import("@odpo/model"), import("@odpo/optimizer"), import("@odpo/sampler"), import("@odpo/scorer")
    ])
    return Layer.mergeAll(
      storeLayer(db, options),
      CheckpointStore.layer,
      Layer.provide(Layer.mergeAll(TfjsSampler.layer, Trainer.layer), LoadedModels.LoadedModels.layer),
      RewardScorer.layer,
      layerTerminal,
      CrashPoint.layerFromEnv()
    )
  }))
