// The Llama family on tfjs's webgpu backend (llvmpipe where there is no GPU) against the PyTorch
// reference numbers: logits, cached decoding, gradients.
import { assert, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { build } from "../src/Architectures.ts"
import type { KvCache } from "../src/CausalLm.ts"
import { loadHfDirectory } from "../src/HfImport.ts"
import { disposeBatch, makeBatch, tokenLogProbs } from "../src/LogProbs.ts"
import { absoluteError, describeWebGpu, onBackend } from "./WebGpuAvailable.ts"

const FIXTURES = join(import.meta.dirname, "fixtures", "llama")

describeWebGpu("Llama family on webgpu", () => {
  for (const name of ["llama_tiny", "qwen2_tiny", "qwen3_tiny"]) {
    it.effect(`${name}: logits and gradients match PyTorch within 1e-4; cached steps match the full forward`, () =>
      Effect.gen(function*() {
        const ref = JSON.parse(readFileSync(join(FIXTURES, `${name}.reference.json`), "utf8")) as {
          sequences: Array<Array<number>>
          promptLengths: Array<number>
          logits: Array<Array<Array<number>>>
          gradients: Record<string, Array<number>>
        }
        const loaded = yield* loadHfDirectory(join(FIXTURES, name))
        const weights = yield* Effect.promise(() => loaded.model.weights())
        loaded.model.dispose()
        const out = yield* Effect.promise(() =>
          onBackend("webgpu", async () => {
            const model = build(loaded.config, weights)
            const seq = ref.sequences[0]!
            const T = seq.length
            const x = tf.tensor2d([seq], [1, T], "int32")
            const full = tf.tidy(() => model.forward(x).logits)
            const step = (ids: tf.Tensor2D, cache?: KvCache) => {
              const r = model.forward(ids, cache ? { cache } : {}, true)
              return { logits: r.logits, keys: [...r.cache!.keys], values: [...r.cache!.values] }
            }
            let state = tf.tidy(() => step(tf.slice(x, [0, 0], [1, 4])))
            const steps: Array<tf.Tensor> = [state.logits]
            for (let t = 4; t < T; t++) {
              const prev = state
              state = tf.tidy(() => step(tf.slice(x, [0, t], [1, 1]), prev))
              tf.dispose([...prev.keys, ...prev.values])
              steps.push(state.logits)
            }
            const incremental = tf.concat(steps, 1)
            const seqs = ref.sequences.map((s, i) => ({ promptTokenIds: s.slice(0, ref.promptLengths[i]), completionTokenIds: s.slice(ref.promptLengths[i]) }))
            const batch = makeBatch(seqs, loaded.tokenizer.padId, loaded.config.contextLength)
            const { value, grads } = tf.variableGrads(() => tf.sum(tokenLogProbs(model, batch)) as tf.Scalar, model.variables())
            const byName = new Map<string, Float32Array>()
            for (const [hf, v] of model.params) byName.set(hf, (await grads[v.name]!.data()) as Float32Array)
            const result = { full: await full.data(), incremental: await incremental.data(), grads: byName }
            tf.dispose([x, full, incremental, ...steps, ...state.keys, ...state.values, value, ...Object.values(grads)])
            disposeBatch(batch)
            model.dispose()
            return result
          })
        )
        assert.isBelow(absoluteError(out.full, ref.logits[0]!.flat()), 1e-4)
        assert.isBelow(absoluteError(out.incremental, ref.logits[0]!.flat()), 1e-4)
        for (const [hf, g] of out.grads) {
          const expected = ref.gradients[hf]!
          const scale = Math.max(1, ...expected.map(Math.abs))
          assert.isBelow(absoluteError(g, expected), 1e-4 * scale, hf)
        }
      }))
  }
})
