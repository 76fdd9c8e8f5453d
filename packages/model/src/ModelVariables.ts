/** A model's parameters as tfjs variables by name: made from host arrays, read back, overwritten (Gpt and Llama alike). */
import * as tf from "@tensorflow/tfjs-core"

type Shapes = ReadonlyArray<readonly [string, ReadonlyArray<number>]>

// tfjs variable names must be unique in the process: one counter for every model.
let nextId = 0

const dataOf = (weights: Map<string, Float32Array>, name: string): Float32Array => {
  const data = weights.get(name)
  if (!data) throw new Error(`missing parameter ${name}`)
  return data
}

/** How many scalars the shapes hold in all (a model's parameter count). */
export const scalarCount = (shapes: Shapes): number => shapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0)

/** One trainable variable per parameter, in `shapes` order. */
export const makeVariables = (shapes: Shapes, weights: Map<string, Float32Array>): Map<string, tf.Variable> => {
  const params = new Map<string, tf.Variable>()
  for (const [name, shape] of shapes) {
    // The variable takes its own reference to the data: dispose the initial tensor or it leaks.
    const initial = tf.tensor(dataOf(weights, name), [...shape], "float32")
    params.set(name, tf.variable(initial, true, `${name}_${nextId++}`))
    initial.dispose()
  }
  return params
}

/**
 * Weights as plain arrays, by name (for checkpoints and copies). Async: a GPU backend reads back
 * without blocking (tfjs's webgpu backend cannot read synchronously in Node at all).
 */
export const readWeights = async (shapes: Shapes, params: Map<string, tf.Variable>): Promise<Map<string, Float32Array>> => {
  const names = shapes.map(([name]) => name)
  const data = await Promise.all(names.map((name) => params.get(name)!.data()))
  return new Map(names.map((name, i) => [name, data[i] as Float32Array]))
}

/** Overwrite every variable with the given weights (the same shapes). */
export const assignWeights = (shapes: Shapes, params: Map<string, tf.Variable>, weights: Map<string, Float32Array>): void => {
  for (const [name, shape] of shapes) {
    const t = tf.tensor(dataOf(weights, name), [...shape], "float32")
    params.get(name)!.assign(t)
    t.dispose()
  }
}
