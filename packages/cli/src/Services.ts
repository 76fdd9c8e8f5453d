/** The composition root: the layers every command runs on, wired for one database file. */
import { RunStore } from "@odpo/core"
import { Effect, Layer } from "effect"
import { dirname, join, resolve } from "node:path"
import { layerTerminal } from "./ProgressBar.ts"

/** Checkpoints live beside the database: runs/odpo.duckdb → runs/checkpoints/. */
export const checkpointRootFor = (db: string) => join(dirname(resolve(db)), "checkpoints")

export const storeLayer = (db: string) => RunStore.RunStore.layer(db)

/** Everything the round loop needs; the engines load when a command builds it (not at `odpo` start). */
export const experimentLayer = (db: string) =>
  Layer.unwrap(Effect.promise(async () => {
    const [{ Checkpoint }, { Trainer }, { TfjsSampler }, { RewardScorer }] = await Promise.all([
      import("@odpo/model"), import("@odpo/optimizer"), import("@odpo/sampler"), import("@odpo/scorer")
    ])
    return Layer.mergeAll(storeLayer(db), Checkpoint.layer, TfjsSampler.layer, RewardScorer.layer, Trainer.layer, layerTerminal)
  }))
