/**
 * Array walks for the cpu kernels (CpuKernels.ts): broadcasting, transposing and slicing typed
 * arrays by strides, visiting the output in order with an odometer rather than per-element index
 * arithmetic.
 */
import * as tf from "@tensorflow/tfjs-core"

export type Values = Float32Array | Int32Array | Uint8Array
export type Binary = (a: number, b: number) => number


export const arrayFor = (dtype: tf.DataType, size: number): Values =>
  dtype === "int32" ? new Int32Array(size) : dtype === "bool" ? new Uint8Array(size) : new Float32Array(size)

/** Strides of `shape` aligned to the right of `out`, 0 along broadcast (size-1 or missing) dims. */
export const alignedStrides = (shape: ReadonlyArray<number>, out: ReadonlyArray<number>): Array<number> => {
  const strides = new Array<number>(out.length).fill(0)
  let stride = 1
  for (let i = shape.length - 1, o = out.length - 1; i >= 0; i--, o--) {
    strides[o] = shape[i] === 1 ? 0 : stride
    stride *= shape[i]!
  }
  return strides
}

/**
 * Walk `shape` in row-major order one last-axis run at a time. Operand k advances by
 * `steps[k][d]` per step of dimension d; `visit(base, offsets)` gets the run's flat index and
 * each operand's offset at the run's start (the caller loops over the run with steps[k][last]).
 */
export const walkRuns = (shape: ReadonlyArray<number>, steps: ReadonlyArray<ReadonlyArray<number>>, visit: (base: number, offsets: ReadonlyArray<number>) => void): void => {
  const rank = shape.length
  const size = tf.util.sizeFromShape([...shape])
  if (size === 0) return
  const inner = rank === 0 ? 1 : shape[rank - 1]!
  const idx = new Array<number>(rank).fill(0)
  const offsets = steps.map(() => 0)
  for (let base = 0; base < size; base += inner) {
    visit(base, offsets)
    // advance the odometer over the outer dims
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++
      for (let k = 0; k < steps.length; k++) offsets[k]! += steps[k]![d]!
      if (idx[d]! < shape[d]!) break
      for (let k = 0; k < steps.length; k++) offsets[k]! -= steps[k]![d]! * shape[d]!
      idx[d] = 0
    }
  }
}

/** Row-major strides of a shape. */
export const stridesOf = (shape: ReadonlyArray<number>): Array<number> => {
  const strides = new Array<number>(shape.length)
  let st = 1
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = st
    st *= shape[d]!
  }
  return strides
}

/** out[i] = op(a[·], b[·]) over the broadcast shape, walking the output in order. */
export const broadcastBinary = (
  aShape: ReadonlyArray<number>, a: Values, bShape: ReadonlyArray<number>, b: Values, out: Values, outShape: ReadonlyArray<number>, op: Binary
): void => {
  const size = out.length
  if (size === 0) return
  if (a.length === size && b.length === size) {
    for (let i = 0; i < size; i++) out[i] = op(a[i]!, b[i]!)
    return
  }
  if (b.length === 1) {
    const y = b[0]!
    for (let i = 0; i < size; i++) out[i] = op(a[i % a.length]!, y)
    return
  }
  if (a.length === 1) {
    const x = a[0]!
    for (let i = 0; i < size; i++) out[i] = op(x, b[i % b.length]!)
    return
  }
  const rank = outShape.length
  const as = alignedStrides(aShape, outShape)
  const bs = alignedStrides(bShape, outShape)
  const inner = outShape[rank - 1]!
  const ai = as[rank - 1]!
  const bi = bs[rank - 1]!
  walkRuns(outShape, [as, bs], (base, [aOff, bOff]) => {
    for (let j = 0; j < inner; j++) out[base + j] = op(a[aOff! + j * ai]!, b[bOff! + j * bi]!)
  })
}

/** out = x transposed by `perm`, walking the output in order. */
export const transposeValues = (x: Values, shape: ReadonlyArray<number>, perm: ReadonlyArray<number>, out: Values): void => {
  const inStrides = stridesOf(shape)
  const outShape = perm.map((p) => shape[p]!)
  const step = perm.map((p) => inStrides[p]!) // input stride of each output dim
  const inner = outShape[outShape.length - 1] ?? 1
  const innerStep = step[step.length - 1] ?? 0
  walkRuns(outShape, [step], (base, [off]) => {
    for (let j = 0; j < inner; j++) out[base + j] = x[off! + j * innerStep]!
  })
}

/** Copy the box [begin, begin + size) of x (shape) into a new array, contiguous last-axis runs at a time. */
export const sliceValues = (xs: Values, shape: ReadonlyArray<number>, begin: ReadonlyArray<number>, size: ReadonlyArray<number>, dtype: tf.DataType): Values => {
  const out = arrayFor(dtype, tf.util.sizeFromShape([...size]))
  const strides = stridesOf(shape)
  const start = begin.reduce((acc, v, d) => acc + v * strides[d]!, 0)
  const inner = size[size.length - 1]!
  walkRuns(size, [strides], (base, [off]) => out.set(xs.subarray(start + off!, start + off! + inner), base))
  return out
}
