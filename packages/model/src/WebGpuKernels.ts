/**
 * Fused kernels for tfjs's webgpu backend, fewer dispatches for the same maths. GELU as GPT-2
 * writes it (tanh approximation) is one dispatch forward and one backward, where the composite of
 * tfjs ops is ~10 forward and ~20 backward. Registered when the webgpu backend starts (WebGpu.ts);
 * every other backend keeps the composite (Gpt.gelu), so cpu numbers never change.
 */
import * as tf from "@tensorflow/tfjs-core"

export const GELU = "OdpoGelu"
export const GELU_GRAD = "OdpoGeluGrad"

type Backend = typeof import("@tensorflow/tfjs-backend-webgpu")
type WebGPUBackend = InstanceType<Backend["WebGPUBackend"]>

/** tanh as tfjs's webgpu TANH computes it: exp overflows to inf past |a| ≈ 44, this form does not. */
const TANH = `fn tanh_(a : f32) -> f32 {
  let e2x = exp(-2.0 * abs(a));
  return sign(a) * (1.0 - e2x) / (1.0 + e2x);
}`

// gelu(x) = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³)
// gelu'(x) = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)
const C = Math.sqrt(2 / Math.PI).toFixed(9)
const forward = `let u = ${C} * (x + 0.044715 * x * x * x);
      let y = 0.5 * x * (1.0 + tanh_(u));`
const backward = `let u = ${C} * (x + 0.044715 * x * x * x);
      let t = tanh_(u);
      let y = dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * ${C} * (1.0 + 0.134145 * x * x));`

/** Register the fused kernels on the webgpu backend (idempotent). */
export const registerWebGpuKernels = (mod: Backend): void => {
  if (tf.getKernel(GELU, "webgpu") !== undefined) return
  const { computeDispatch, flatDispatchLayout } = mod.webgpu_util
  /** An elementwise program over `names` inputs of one shape; `body` sets `y` from x (and dy). */
  const elementwise = (shape: Array<number>, key: string, names: Array<string>, body: string) => {
    const dispatchLayout = flatDispatchLayout(shape)
    const workgroupSize: [number, number, number] = [128, 1, 1]
    return {
      outputShape: shape,
      shaderKey: key,
      variableNames: names,
      size: true,
      workgroupSize,
      dispatchLayout,
      dispatch: computeDispatch(dispatchLayout, shape, workgroupSize),
      getUserCode: () => `
    ${TANH}
    fn main(index : i32) {
      if (index < uniforms.size) {
        let x = getXByOutputIndex(index);
        ${names.includes("Dy") ? "let dy = getDyByOutputIndex(index);" : ""}
        ${body}
        setOutputAtIndex(index, y);
      }
    }`
    }
  }
  tf.registerKernel({
    kernelName: GELU,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs["x"] as tf.TensorInfo
      return (backend as WebGPUBackend).runWebGPUProgram(elementwise(x.shape, "odpo_gelu", ["X"], forward) as never, [x], "float32")
    }
  })
  tf.registerKernel({
    kernelName: GELU_GRAD,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const dy = inputs["dy"] as tf.TensorInfo
      const x = inputs["x"] as tf.TensorInfo
      return (backend as WebGPUBackend).runWebGPUProgram(elementwise(x.shape, "odpo_gelu_grad", ["X", "Dy"], backward) as never, [x, dy], "float32")
    }
  })
  tf.registerGradient({
    kernelName: GELU,
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => ({ x: () => tf.engine().runKernel(GELU_GRAD, { dy: dy as tf.Tensor, x: saved[0]! }) as tf.Tensor })
  })
}

let enabled = true
/** Turn the fused kernels off (or on again): the bench measures what they are worth. */
export const useFusedKernels = (on: boolean): void => {
  enabled = on
}

/** The fused GELU where the current backend has it (webgpu), else undefined. */
export const fusedGelu = (x: tf.Tensor): tf.Tensor | undefined =>
  enabled && tf.getBackend() === "webgpu" && tf.getKernel(GELU, "webgpu") !== undefined
    ? (tf.engine().runKernel(GELU, { x }) as tf.Tensor)
    : undefined
