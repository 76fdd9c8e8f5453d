import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { selectBackend } from "../src/Engine.ts"

describe("Engine", () => {
  it.effect("auto falls back to the pure-JS cpu backend where no native backend is built", () =>
    Effect.gen(function*() {
      const taken = yield* selectBackend("auto")
      assert.strictEqual(taken.backend, "cpu")
      assert.strictEqual(tf.getBackend(), "cpu")
      const y = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).arraySync())
      assert.deepStrictEqual(y, [4, 6])
    }))

  it.effect("naming an absent native backend is a clear error with install instructions", () =>
    Effect.gen(function*() {
      const err = yield* Effect.flip(selectBackend("tensorflow-gpu"))
      assert.strictEqual(err._tag, "BackendUnavailable")
      assert.include(err.message, "@tensorflow/tfjs-node-gpu")
      assert.include(err.message, "allowBuilds")
    }))

  it.effect("an unknown backend name is refused", () =>
    Effect.gen(function*() {
      const err = yield* Effect.flip(selectBackend("nope" as never))
      assert.include(err.message, "\"nope\"")
    }))
})
