import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { selectBackend } from "../src/Backend.ts"

describe("Backend", () => {
  it.effect("auto takes onnxruntime's CPU provider where no GPU or native tfjs backend is built, with tfjs cpu beside it", () =>
    Effect.gen(function*() {
      const taken = yield* selectBackend("auto", { threads: 2 })
      assert.strictEqual(taken.backend, "onnx")
      assert.match(taken.device, /^onnxruntime 1\.\d+\.\d+ cpu \(MLAS\), 2 threads$/)
      // the losses' tiny tensors run on tfjs: its cpu backend is active
      assert.strictEqual(tf.getBackend(), "cpu")
      const y = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).arraySync())
      assert.deepStrictEqual(y, [4, 6])
    }))

  it.effect("cpu is tfjs's pure-JS backend", () =>
    Effect.gen(function*() {
      const taken = yield* selectBackend("cpu")
      assert.deepStrictEqual(taken, { backend: "cpu", device: "cpu (pure JS)" })
    }))

  it.effect("onnx reports onnxruntime's default threads when engine.threads is 0", () =>
    Effect.gen(function*() {
      const taken = yield* selectBackend("onnx")
      assert.strictEqual(taken.backend, "onnx")
      assert.match(taken.device, /cpu \(MLAS\), \d+ \(default\) threads$/)
    }))

  it.effect("onnx-webgpu runs the probe on a GPU adapter, or says what is missing", () =>
    Effect.gen(function*() {
      const taken = yield* Effect.result(selectBackend("onnx-webgpu"))
      if (taken._tag === "Success") {
        assert.strictEqual(taken.success.backend, "onnx-webgpu")
        assert.include(taken.success.device, "webgpu")
      } else {
        // machines without a GPU (CI): onnxruntime's reason, then how to get one
        assert.strictEqual(taken.failure._tag, "BackendUnavailable")
        assert.include(taken.failure.message, "backend \"onnx-webgpu\" is not available: ")
        assert.include(taken.failure.message, "adapter")
        assert.include(taken.failure.message, "engine.backend \"onnx\"")
        assert.notInclude(taken.failure.message, "onnxruntime_src")
      }
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
