/**
 * For tests on tfjs's webgpu backend (llvmpipe where there is no GPU): the adapter is looked for
 * once per test file. With CI=true a missing adapter FAILS (CI installs Mesa for this); elsewhere
 * the tests skip and say why. Comparisons run the same work on "cpu" and "webgpu" in one process.
 */
import { describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs-core"
import { WebGpu } from "@odpo/model"

const found = await WebGpu.activate(true).then(
  ({ adapter }) => ({ adapter }),
  (e: unknown) => ({ missing: String((e as Error)?.message ?? e) })
)
await tf.setBackend("cpu")

export const webgpuAdapter = "adapter" in found ? found.adapter : undefined

/** `describe` that runs only with a WebGPU adapter (see the module comment for CI). */
export const describeWebGpu = (name: string, body: () => void): void => {
  if ("adapter" in found) {
    describe(`${name} [webgpu on ${found.adapter.device || "adapter"}]`, body)
    return
  }
  if (process.env["CI"] === "true") {
    describe(name, () => {
      it("has a WebGPU adapter (CI=true requires one: Mesa's libegl1 libegl-mesa0 libgl1-mesa-dri)", () => {
        throw new Error(`no WebGPU adapter: ${found.missing}`)
      })
    })
    return
  }
  console.warn(`skipping "${name}": no WebGPU adapter (${found.missing}); with CI=true this fails`)
  describe.skip(name, body)
}

/** Run `f` with `backend` current, then go back to cpu (the test files' default). */
export const onBackend = async <A>(backend: "cpu" | "webgpu", f: () => Promise<A> | A): Promise<A> => {
  await tf.setBackend(backend)
  try {
    return await f()
  } finally {
    await tf.setBackend("cpu")
  }
}

/** max |a − b| over max |b| (the error of `a` relative to the reference `b`'s scale). */
export const relativeError = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`)
  let diff = 0
  let scale = 0
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!))
    scale = Math.max(scale, Math.abs(b[i]!))
  }
  return scale === 0 ? diff : diff / scale
}

/** max |a − b|. */
export const absoluteError = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`)
  let diff = 0
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!))
  return diff
}
