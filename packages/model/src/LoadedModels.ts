/**
 * The LoadedModels service: checkpoints loaded (and SHA-verified) once and shared by the sampler,
 * the trainer and the evaluation of a command. A bounded cache owned by its layer: the least
 * recently used model is disposed when more than `capacity` are held, and every model when the
 * layer closes.
 */
import type { Domain } from "@odpo/core"
import { Checkpoints } from "@odpo/core"
import { Context, Effect, Layer, Semaphore } from "effect"
import { type LoadedCheckpoint, loadCheckpoint } from "./Checkpoint.ts"
import { Errors } from "@odpo/core"

/** A round uses at most three models at once (policy, reference, output); keep one spare. */
export const defaultCapacity = 4

export class LoadedModels extends Context.Service<LoadedModels, {
  /** The checkpoint's model and tokenizer; borrowed: callers must not dispose the model. */
  readonly load: (ref: Domain.CheckpointRef) => Effect.Effect<LoadedCheckpoint, Checkpoints.CheckpointError>
}>()("@odpo/model/LoadedModels") {
  static readonly layerCapacity = (capacity: number): Layer.Layer<LoadedModels> =>
    Layer.effect(LoadedModels, Effect.suspend(() => make(capacity)))

  static get layer(): Layer.Layer<LoadedModels> {
    return layer
  }
}

const make = (capacity: number) =>
  Effect.gen(function*() {
    // Map order is recency order: a hit moves its entry to the end.
    const cache = yield* Effect.acquireRelease(
      Effect.sync(() => new Map<string, LoadedCheckpoint>()),
      (held) => Effect.sync(() => {
        for (const c of held.values()) c.model.dispose()
        held.clear()
      })
    )
    const loading = yield* Semaphore.make(1)
    const remember = (loaded: LoadedCheckpoint) => {
      cache.set(loaded.ref.id, loaded)
      for (const [id, old] of cache) {
        if (cache.size <= capacity) break
        cache.delete(id)
        old.model.dispose()
      }
    }
    const load = (ref: Domain.CheckpointRef) =>
      loading.withPermit(Effect.suspend(() => {
        const hit = cache.get(ref.id)
        if (hit) {
          cache.delete(ref.id)
          cache.set(ref.id, hit)
          return Effect.succeed(hit)
        }
        return Effect.flatMap(loadCheckpoint(ref.path), (loaded) => {
          if (loaded.ref.id !== ref.id) {
            loaded.model.dispose()
            return Effect.fail(new Errors.CheckpointCorrupt({
              path: ref.path,
              message: `checkpoint ${ref.path} has id ${loaded.ref.id}, not the ${ref.id} that was asked for: the ref points at the wrong directory`
            }))
          }
          remember(loaded)
          return Effect.succeed(loaded)
        })
      }))
    return LoadedModels.of({ load })
  })

const layer = LoadedModels.layerCapacity(defaultCapacity)
