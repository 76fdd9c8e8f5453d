/**
 * Faster kernels for tfjs's pure-JS `cpu` backend, registered over its own.
 *
 * tfjs-backend-cpu 4.22 computes every *broadcasting* binary op (x − mean over the last axis,
 * bias adds, attention masks — half the ops of a transformer) and every transpose with a
 * per-element `indexToLoc`/`locToIndex` (array allocations per element): for a small GPT that is
 * most of a training step. These replacements walk the output in order with an odometer over
 * strides instead — same results to the bit (each output element is computed by the same
 * arithmetic on the same two inputs), an order of magnitude faster. Softmax is replaced by a
 * row-wise loop for the same reason. Anything unusual (complex or string tensors) goes to the
 * original kernel.
 */
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"

import { arrayFor, type Binary, broadcastBinary, sliceValues, stridesOf, transposeValues, type Values, walkRuns } from "./CpuStrided.ts"

export { broadcastBinary, transposeValues } from "./CpuStrided.ts"

interface CpuBackend {
  readonly data: { get(dataId: unknown): { values: Values } }
  makeTensorInfo(shape: ReadonlyArray<number>, dtype: tf.DataType, values: Values): tf.TensorInfo
}

const fallback = (name: string) => tf.getKernel(name, "cpu")!.kernelFunc

const numeric = (t: tf.TensorInfo) => t.dtype === "float32" || t.dtype === "int32" || t.dtype === "bool"

const binaryKernel = (name: string, op: Binary, outDtype?: tf.DataType): tf.KernelConfig => {
  const original = fallback(name)
  return {
    kernelName: name,
    backendName: "cpu",
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
      if (!numeric(a) || !numeric(b)) return original(args)
      const backend = args.backend as unknown as CpuBackend
      const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape)
      const dtype = outDtype ?? tf.upcastType(a.dtype, b.dtype)
      const out = arrayFor(dtype, tf.util.sizeFromShape(outShape))
      broadcastBinary(a.shape, backend.data.get(a.dataId).values, b.shape, backend.data.get(b.dataId).values, out, outShape, op)
      return backend.makeTensorInfo(outShape, dtype, out)
    }
  }
}

const transposeKernel = (): tf.KernelConfig => {
  const original = fallback("Transpose")
  return {
    kernelName: "Transpose",
    backendName: "cpu",
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo }
      if (!numeric(x)) return original(args)
      const { perm } = args.attrs as unknown as { perm: ReadonlyArray<number> }
      const backend = args.backend as unknown as CpuBackend
      const out = arrayFor(x.dtype, tf.util.sizeFromShape(x.shape))
      transposeValues(backend.data.get(x.dataId).values, x.shape, perm, out)
      return backend.makeTensorInfo(perm.map((p) => x.shape[p]!), x.dtype, out)
    }
  }
}

/** Softmax over the last axis, one row at a time (max-subtracted for stability). */
const softmaxKernel = (): tf.KernelConfig => {
  const original = fallback("Softmax")
  return {
    kernelName: "Softmax",
    backendName: "cpu",
    kernelFunc: (args) => {
      const { logits } = args.inputs as { logits: tf.TensorInfo }
      const { dim } = args.attrs as unknown as { dim: number }
      const rank = logits.shape.length
      if (logits.dtype !== "float32" || (dim !== -1 && dim !== rank - 1)) return original(args)
      const backend = args.backend as unknown as CpuBackend
      const x = backend.data.get(logits.dataId).values
      const n = logits.shape[rank - 1]!
      const out = new Float32Array(x.length)
      for (let base = 0; base < x.length; base += n) {
        let max = -Infinity
        for (let j = 0; j < n; j++) if (x[base + j]! > max) max = x[base + j]!
        let sum = 0
        for (let j = 0; j < n; j++) {
          const e = Math.exp(x[base + j]! - max)
          out[base + j] = e
          sum += e
        }
        for (let j = 0; j < n; j++) out[base + j]! /= sum
      }
      return backend.makeTensorInfo(logits.shape, "float32", out)
    }
  }
}

/**
 * Σ of x's rows by segment id: the gradient of tf.gather (every embedding lookup). tfjs-cpu's own
 * loops over all numSegments doing a broadcast compare-multiply-sum each time (O(V·N·D) through
 * the slow paths); a direct scatter-add is O(N·D).
 */
const unsortedSegmentSumKernel = (): tf.KernelConfig => {
  const original = fallback("UnsortedSegmentSum")
  return {
    kernelName: "UnsortedSegmentSum",
    backendName: "cpu",
    kernelFunc: (args) => {
      const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo }
      const { numSegments } = args.attrs as unknown as { numSegments: number }
      if (x.dtype !== "float32" && x.dtype !== "int32") return original(args)
      const backend = args.backend as unknown as CpuBackend
      const ids = backend.data.get(segmentIds.dataId).values
      const xs = backend.data.get(x.dataId).values
      const rest = x.shape.slice(segmentIds.shape.length)
      const inner = tf.util.sizeFromShape(rest)
      const out = arrayFor(x.dtype, numSegments * inner)
      for (let i = 0; i < ids.length; i++) {
        const seg = ids[i]!
        if (seg < 0 || seg >= numSegments) continue
        const src = i * inner
        const dst = seg * inner
        for (let j = 0; j < inner; j++) out[dst + j]! += xs[src + j]!
      }
      return backend.makeTensorInfo([numSegments, ...rest], x.dtype, out)
    }
  }
}

/**
 * Batched matmul with both operands packed so the inner product runs over contiguous memory
 * (tfjs-cpu strides through B's rows). Batch dims broadcast as tfjs's do (index modulo size).
 */
const batchMatMulKernel = (): tf.KernelConfig => {
  const original = fallback("BatchMatMul")
  return {
    kernelName: "BatchMatMul",
    backendName: "cpu",
    kernelFunc: (args) => {
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
      const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean }
      if (a.dtype !== "float32" || b.dtype !== "float32") return original(args)
      const backend = args.backend as unknown as CpuBackend
      const ra = a.shape.length
      const rb = b.shape.length
      const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!
      const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!
      const kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!
      const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!
      if (k !== kb) return original(args) // let tfjs raise its own shape error
      const outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
      const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2))
      const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2))
      const batch = Math.max(batchA, batchB)
      const av = backend.data.get(a.dataId).values as Float32Array
      const bv = backend.data.get(b.dataId).values as Float32Array
      const out = new Float32Array(batch * m * n)
      const rowsA = new Float32Array(m * k) // A as m rows of k
      const colsB = new Float32Array(n * k) // B as n rows of k (Bᵀ)
      for (let t = 0; t < batch; t++) {
        const ao = (t % batchA) * m * k
        const bo = (t % batchB) * k * n
        if (transposeA) for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) rowsA[i * k + p] = av[ao + p * m + i]!
        else rowsA.set(av.subarray(ao, ao + m * k))
        if (transposeB) colsB.set(bv.subarray(bo, bo + n * k))
        else for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) colsB[j * k + p] = bv[bo + p * n + j]!
        const oo = t * m * n
        for (let i = 0; i < m; i++) {
          const ai = i * k
          for (let j = 0; j < n; j++) {
            const bj = j * k
            let sum = 0
            for (let p = 0; p < k; p++) sum += rowsA[ai + p]! * colsB[bj + p]!
            out[oo + i * n + j] = sum
          }
        }
      }
      return backend.makeTensorInfo([...outer, m, n], "float32", out)
    }
  }
}

/** Slice copying contiguous runs of the last axis (tfjs-cpu reads element by element). */
const sliceKernel = (): tf.KernelConfig => {
  const original = fallback("Slice")
  return {
    kernelName: "Slice",
    backendName: "cpu",
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo }
      if (!numeric(x) || x.shape.length === 0) return original(args)
      const { begin, size } = args.attrs as unknown as { begin: number | Array<number>; size: number | Array<number> }
      const [b0, s0] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size)
      const backend = args.backend as unknown as CpuBackend
      const out = sliceValues(backend.data.get(x.dataId).values, x.shape, b0, s0, x.dtype)
      return backend.makeTensorInfo(s0, x.dtype, out)
    }
  }
}

/** Split along an axis: one box copy per part (tfjs-cpu's goes through its slow slice). */
const splitVKernel = (): tf.KernelConfig => {
  const original = fallback("SplitV")
  return {
    kernelName: "SplitV",
    backendName: "cpu",
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo }
      if (!numeric(x)) return original(args)
      const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | Array<number>; axis: number }
      const $axis = tf.util.parseAxisParam(axis, x.shape)[0]!
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis)
      const backend = args.backend as unknown as CpuBackend
      const xs = backend.data.get(x.dataId).values
      const begin = new Array<number>(x.shape.length).fill(0)
      return sizes.map((len) => {
        const size = x.shape.slice()
        size[$axis] = len
        const out = sliceValues(xs, x.shape, begin, size, x.dtype)
        begin[$axis]! += len
        return backend.makeTensorInfo(size, x.dtype, out)
      })
    }
  }
}

/**
 * Sum over any axes without transposing first: each input element is added, in input order,
 * to its output slot (float64 accumulators, as tfjs-cpu's own sum).
 */
const sumKernel = (): tf.KernelConfig => {
  const original = fallback("Sum")
  return {
    kernelName: "Sum",
    backendName: "cpu",
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo }
      if (x.dtype !== "float32" && x.dtype !== "int32") return original(args)
      const { axis, keepDims } = args.attrs as unknown as { axis: number | Array<number>; keepDims: boolean }
      const axes = tf.util.parseAxisParam(axis, x.shape)
      const backend = args.backend as unknown as CpuBackend
      const xs = backend.data.get(x.dataId).values
      const rank = x.shape.length
      const reduced = new Set(axes)
      const kept = x.shape.filter((_, d) => !reduced.has(d))
      // output stride of every input dim (0 for reduced dims)
      const outStride = new Array<number>(rank).fill(0)
      let st = 1
      for (let d = rank - 1; d >= 0; d--) {
        if (!reduced.has(d)) {
          outStride[d] = st
          st *= x.shape[d]!
        }
      }
      const acc = new Float64Array(tf.util.sizeFromShape(kept))
      const inner = x.shape[rank - 1] ?? 1
      const innerStep = rank > 0 ? outStride[rank - 1]! : 0
      walkRuns(x.shape, [outStride], (base, [off]) => {
        for (let j = 0; j < inner; j++) acc[off! + j * innerStep] += xs[base + j]!
      })
      const dtype = x.dtype === "int32" ? "int32" : "float32"
      const out = dtype === "int32" ? Int32Array.from(acc) : Float32Array.from(acc)
      const shape = keepDims ? x.shape.map((n, d) => (reduced.has(d) ? 1 : n)) : kept
      return backend.makeTensorInfo(shape, dtype, out)
    }
  }
}

let installed = false

/** Register the faster kernels over the cpu backend's own (idempotent). */
export const installCpuKernels = (): void => {
  if (installed) return
  installed = true
  const configs = [
    binaryKernel("Add", (a, b) => a + b),
    binaryKernel("Sub", (a, b) => a - b),
    binaryKernel("Multiply", (a, b) => a * b),
    binaryKernel("RealDiv", (a, b) => a / b, "float32"),
    binaryKernel("Maximum", (a, b) => Math.max(a, b)),
    binaryKernel("Minimum", (a, b) => Math.min(a, b)),
    binaryKernel("SquaredDifference", (a, b) => (a - b) * (a - b)),
    binaryKernel("Less", (a, b) => (a < b ? 1 : 0), "bool"),
    binaryKernel("LessEqual", (a, b) => (a <= b ? 1 : 0), "bool"),
    binaryKernel("Greater", (a, b) => (a > b ? 1 : 0), "bool"),
    binaryKernel("GreaterEqual", (a, b) => (a >= b ? 1 : 0), "bool"),
    binaryKernel("Equal", (a, b) => (a === b ? 1 : 0), "bool"),
    binaryKernel("LogicalAnd", (a, b) => (a && b ? 1 : 0), "bool"),
    transposeKernel(),
    softmaxKernel(),
    unsortedSegmentSumKernel(),
    batchMatMulKernel(),
    sliceKernel(),
    splitVKernel(),
    sumKernel()
  ]
  // tfjs warns when a kernel is registered twice; replacing is the point here.
  const warn = console.warn
  console.warn = () => {}
  try {
    for (const c of configs) {
      tf.unregisterKernel(c.kernelName, "cpu")
      tf.registerKernel(c)
    }
  } finally {
    console.warn = warn
  }
}
