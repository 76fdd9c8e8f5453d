// The GPT on tfjs's webgpu backend against the cpu reference: logits, KV-cache decoding,
// gradients, exact KL and entropy, no leaks; and what the engine says about the adapter.
import { assert, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { selectBackend } from "../src/Backend.ts"
import { gelu, Gpt, type GptConfig, initialParameters, type KvCache } from "../src/Gpt.ts"
import { disposeBatch, makeBatch, sequenceLogProbs, tokenEntropy, tokenKl } from "../src/LogProbs.ts"
import { describeAdapter, isSoftware } from "../src/WebGpu.ts"
import { absoluteError, describeWebGpu, onBackend, relativeError, webgpuAdapter } from "./WebGpuAvailable.ts"

const config: GptConfig = { vocabSize: 24, contextLength: 16, dModel: 32, nLayers: 2, nHeads: 4, dropout: 0 }
const weights = initialParameters(config, 7)
// Scaled up from GPT-2's init so the logits span a few units (a near-uniform model hides errors).
for (const [name, w] of weights) if (!name.includes("ln_")) for (let i = 0; i < w.length; i++) w[i] = w[i]! * 10
const referenceWeights = initialParameters(config, 8)

/** Prompt + completion sequences of different lengths (padding and masks matter). */
const seqs = [
  { promptTokenIds: [1, 5, 6], completionTokenIds: [7, 8, 9, 2] },
  { promptTokenIds: [1], completionTokenIds: [10, 11] },
  { promptTokenIds: [1, 12, 13, 14, 15], completionTokenIds: [16, 17, 18, 19, 20, 2] }
]

it("software adapters are told apart by their info", () => {
  assert.isTrue(isSoftware({ vendor: "", device: "llvmpipe-llvm-15-0-6-256-bits-", description: "OpenGL version 4.5 (Core Profile) Mesa 22.3.6" }))
  assert.isTrue(isSoftware({ vendor: "google", device: "SwiftShader Device (Subzero)", description: "" }))
  assert.isTrue(isSoftware({ vendor: "mesa", device: "llvmpipe (LLVM 15.0.6, 256 bits)", description: "Mesa 22.3.6 (lavapipe)" }))
  assert.isFalse(isSoftware({ vendor: "nvidia", architecture: "hopper", device: "NVIDIA H200", description: "NVIDIA: 570.86.15" }))
  assert.strictEqual(
    describeAdapter({ vendor: "nvidia", architecture: "hopper", device: "NVIDIA H200", description: "NVIDIA: 570.86.15", software: false, via: "default" }),
    "NVIDIA H200 [nvidia hopper], driver NVIDIA: 570.86.15"
  )
})

it("with no adapter at all, --backend webgpu fails naming what is missing (Vulkan loader, ICD, Mesa)", () => {
  // A real process whose EGL finds no vendor library: no OpenGL adapter; and no hardware here either
  // unless this machine has a GPU (then the error path cannot be reached, and there is nothing to check).
  if (webgpuAdapter && !webgpuAdapter.software) return
  const script = fileURLToPath(new URL("./fixtures/selectWebGpu.ts", import.meta.url))
  const out = execFileSync(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, __EGL_VENDOR_LIBRARY_FILENAMES: "/nonexistent.json", VK_DRIVER_FILES: "/nonexistent.json" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"]
  })
  const result = JSON.parse(out) as { tag: string; message: string }
  assert.strictEqual(result.tag, "BackendUnavailable")
  assert.match(result.message, /^webgpu: no adapter: hardware: .*(Vulkan loader|ICD).*; software: .*(EGL|Mesa)/)
  assert.include(result.message, "apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri")
  assert.include(result.message, "VK_DRIVER_FILES")
})

describeWebGpu("Gpt on webgpu", () => {
  it.effect("selectBackend(\"webgpu\") names the adapter, warns when it is a software one, and auto never takes one", () =>
    Effect.gen(function*() {
      const taken = yield* selectBackend("webgpu")
      assert.strictEqual(taken.backend, "webgpu")
      assert.strictEqual(taken.device, describeAdapter(webgpuAdapter!))
      assert.include(taken.device, webgpuAdapter!.device)
      if (webgpuAdapter!.software) {
        assert.match(taken.warning ?? "", /software adapter/)
        const auto = yield* selectBackend("auto")
        assert.notStrictEqual(auto.backend, "webgpu")
      }
      yield* Effect.promise(() => tf.setBackend("cpu"))
    }))

  it("the fused GELU kernel (one dispatch each way) equals the composite on cpu, value and gradient", async () => {
    const xs = Array.from({ length: 2001 }, (_, i) => -15 + (30 * i) / 2000) // tanh saturates past |u| ≈ 10
    const weights = xs.map((_, i) => Math.cos(i))
    const run = (backend: "cpu" | "webgpu") =>
      onBackend(backend, async () => {
        const x = tf.tensor1d(xs)
        const w = tf.tensor1d(weights)
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(gelu(tf.mul(x, v)), w)) as tf.Scalar, [v])
        const y = tf.tidy(() => gelu(x))
        const kernels = (await tf.profile(() => gelu(x))).kernelNames
        const out = { y: await y.data(), dy: await grads[v.name]!.data(), value: (await value.data())[0]!, kernels }
        tf.dispose([x, w, y, value, ...Object.values(grads)])
        return out
      })
    // d/dv Σ gelu(v·x)·w at v = 1 is Σ gelu'(x)·x·w: the backward kernel, summed
    const v = tf.variable(tf.scalar(1), true, "gelu_scale")
    const cpu = await run("cpu")
    const gpu = await run("webgpu")
    v.dispose()
    assert.deepStrictEqual(gpu.kernels, ["OdpoGelu"])
    assert.sameMembers(cpu.kernels, ["Multiply", "Add", "Tanh"]) // the composite, on cpu
    assert.isBelow(absoluteError(gpu.y, cpu.y), 1e-5) // |gelu(x)| ≤ 15
    assert.isBelow(relativeError(gpu.dy, cpu.dy), 1e-5)
    assert.isBelow(Math.abs(gpu.value - cpu.value) / Math.abs(cpu.value), 1e-5)
  })

  it("logits match cpu within 1e-4, and KV-cache steps match the full forward", async () => {
    const ids = [[1, 3, 4, 5, 6, 7, 8, 9], [1, 10, 11, 12, 13, 14, 15, 16]]
    const logits = (backend: "cpu" | "webgpu") =>
      onBackend(backend, async () => {
        const model = new Gpt(config, weights)
        const x = tf.tensor2d(ids, [2, 8], "int32")
        const full = tf.tidy(() => model.forward(x).logits)
        // prefill 5 tokens, then 3 single-token steps through the cache
        // tidy keeps tensors returned in plain (mutable) containers
        const forward = (ids: tf.Tensor2D, cache?: KvCache) => {
          const r = model.forward(ids, cache ? { cache } : {}, true)
          return { logits: r.logits, keys: [...r.cache!.keys], values: [...r.cache!.values] }
        }
        let state = tf.tidy(() => forward(tf.slice(x, [0, 0], [2, 5])))
        const steps: Array<tf.Tensor> = [state.logits]
        for (let t = 5; t < 8; t++) {
          const prev = state
          state = tf.tidy(() => forward(tf.slice(x, [0, t], [2, 1]), prev))
          tf.dispose([...prev.keys, ...prev.values])
          steps.push(state.logits)
        }
        const incremental = tf.concat(steps, 1)
        const out = { full: await full.data(), incremental: await incremental.data() }
        tf.dispose([x, full, incremental, ...steps, ...state.keys, ...state.values])
        model.dispose()
        return out
      })
    const cpu = await logits("cpu")
    const gpu = await logits("webgpu")
    assert.isAbove(Math.max(...cpu.full) - Math.min(...cpu.full), 2) // logits that span a few units
    assert.isBelow(absoluteError(gpu.full, cpu.full), 1e-4)
    assert.isBelow(absoluteError(gpu.incremental, cpu.full), 1e-4)
  })

  it("gradients of the completion log-probs match cpu within 1e-4 relative, per parameter", async () => {
    const grads = (backend: "cpu" | "webgpu") =>
      onBackend(backend, async () => {
        const model = new Gpt(config, weights)
        const batch = makeBatch(seqs, 0, config.contextLength)
        const { value, grads } = tf.variableGrads(() => tf.neg(tf.sum(sequenceLogProbs(model, batch))) as tf.Scalar, model.variables())
        const out = { loss: (await value.data())[0]!, grads: new Map<string, Float32Array>() }
        for (const v of model.variables()) out.grads.set(v.name.replace(/_\d+$/, ""), (await grads[v.name]!.data()) as Float32Array)
        tf.dispose([value, ...Object.values(grads)])
        disposeBatch(batch)
        model.dispose()
        return out
      })
    const cpu = await grads("cpu")
    const gpu = await grads("webgpu")
    assert.isBelow(Math.abs(gpu.loss - cpu.loss) / Math.abs(cpu.loss), 1e-4)
    assert.strictEqual(gpu.grads.size, cpu.grads.size)
    for (const [name, g] of cpu.grads) assert.isBelow(relativeError(gpu.grads.get(name)!, g), 1e-4, name)
  })

  it("exact KL and entropy match cpu; webgpu leaks no tensors over repeated steps", async () => {
    const stats = (backend: "cpu" | "webgpu") =>
      onBackend(backend, async () => {
        const policy = new Gpt(config, weights)
        const reference = new Gpt(config, referenceWeights)
        const batch = makeBatch(seqs, 0, config.contextLength)
        const run = async () => {
          const [kl, entropy] = tf.tidy(() => [tokenKl(policy, reference, batch), tokenEntropy(policy, batch)])
          const out = { kl: await kl!.data(), entropy: await entropy!.data() }
          tf.dispose([kl!, entropy!])
          return out
        }
        const first = await run()
        const before = tf.memory().numTensors
        for (let i = 0; i < 3; i++) await run()
        const leaked = tf.memory().numTensors - before
        disposeBatch(batch)
        policy.dispose()
        reference.dispose()
        return { ...first, leaked }
      })
    const cpu = await stats("cpu")
    const gpu = await stats("webgpu")
    assert.isAbove(Math.max(...cpu.kl), 0.1)
    assert.isBelow(relativeError(gpu.kl, cpu.kl), 1e-4)
    assert.isBelow(relativeError(gpu.entropy, cpu.entropy), 1e-4)
    assert.strictEqual(gpu.leaked, 0)
  })
})
