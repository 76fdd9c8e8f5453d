/**
 * onnxruntime sessions for the policy graphs. A session is made on first use per (graph, model
 * shape) and shared: weights are graph inputs, so every checkpoint of a shape runs on it. All of
 * them are released when the scope that made the pool closes; the OnnxSessionPool service is one
 * pool that the sampler and the trainer of a command share.
 */
import { Errors } from "@odpo/core"
import { Context, Effect, Layer, type Scope, Semaphore } from "effect"
import type * as Ort from "onnxruntime-node"
import { architectureOf, architectures, onnxGraph, onnxUse } from "../Architectures.ts"
import type { ModelConfig } from "../CausalLm.ts"
import { encodeOnnxModel } from "../OnnxWriter.ts"
import type { GraphKind } from "./PolicyGraphs.ts"

const { OnnxError } = Errors
type OnnxError = Errors.OnnxError

/** onnxruntime's execution provider: MLAS on the CPU, or its bundled WebGPU provider. */
export type OnnxProvider = "cpu" | "webgpu"

export interface OnnxOptions {
  readonly provider: OnnxProvider
  /** Intra-op threads of the CPU provider; 0 = onnxruntime's default (one per core). */
  readonly threads: number
}

/** The onnxruntime-node module: loaded when a pool is made, not when this package is imported. */
export type OrtModule = typeof Ort
export const loadOrt: Effect.Effect<OrtModule> = Effect.promise(() => import("onnxruntime-node"))

export type Feeds = Record<string, Ort.Tensor>
export type Fetches = Record<string, Ort.Tensor>

export interface OnnxSessions {
  readonly options: OnnxOptions
  /** onnxruntime-node itself (its Tensor class makes the feeds). */
  readonly ort: OrtModule
  /** The session of one graph for one model shape (made on first use). */
  readonly session: (kind: GraphKind, config: ModelConfig) => Effect.Effect<Ort.InferenceSession, OnnxError>
  /** Run one graph (only `outputs`, when given); a failure names the graph and says what onnxruntime said. */
  readonly run: (kind: GraphKind, config: ModelConfig, feeds: Feeds, outputs?: ReadonlyArray<string>) => Effect.Effect<Fetches, OnnxError>
}

/** A session serves every checkpoint of one architecture and shape. */
const shapeKey = (c: ModelConfig) =>
  `${architectureOf(c)}:V${c.vocabSize}C${c.contextLength}D${c.dModel}L${c.nLayers}H${c.nHeads}` + ("nKvHeads" in c ? JSON.stringify(c) : "")

/** The message for a policy whose architecture has no onnx graph of a kind (yet). */
export const noGraphs = (c: ModelConfig, kind: GraphKind): string =>
  `the onnx engine has no ${kind} graph for architecture ${JSON.stringify(architectureOf(c))} ` +
  `(${kind === "vjp" ? "it trains " : "it runs "}${architectures.filter((a) => onnxUse(a) === "training" || (kind !== "vjp" && onnxUse(a) === "inference")).join(", ")}): ` +
  `run this on a tfjs backend (--backend cpu or webgpu)`

/**
 * Session options for a provider: one op at a time, `threads` inside each op, and worker threads
 * that sleep between ops instead of spinning. Spinning buys a little latency on an idle machine;
 * on a shared one it burns the cores the other thread of the same op is waiting for. Measured on
 * the 2 shared cores (load ~20): a bandit round's engine work 55–80 ms without spinning against
 * 700–770 ms with it; the reference model's forward 35 against 96 ms (best of 15).
 */
export const sessionOptions = (options: OnnxOptions): Ort.InferenceSession.SessionOptions => ({
  executionProviders: [options.provider],
  executionMode: "sequential",
  interOpNumThreads: 1,
  ...(options.threads > 0 ? { intraOpNumThreads: options.threads } : {}),
  graphOptimizationLevel: "all",
  // Shapes change every decode step: a memory pattern per shape would only grow.
  enableMemPattern: false,
  logSeverityLevel: 3,
  extra: { session: { intra_op: { allow_spinning: "0" } } }
})

/** Create a session for one graph (not cached: the pool below caches). */
export const createSession = (ort: OrtModule, kind: GraphKind, config: ModelConfig, options: OnnxOptions): Effect.Effect<Ort.InferenceSession, OnnxError> =>
  Effect.tryPromise({
    try: () => {
      const graph = onnxGraph(config, kind)
      if (!graph) throw new Error(noGraphs(config, kind))
      return ort.InferenceSession.create(encodeOnnxModel(graph(config), { opset: 17, producer: "odpo" }), sessionOptions(options))
    },
    catch: (cause) =>
      new OnnxError({
        message: `onnxruntime (${options.provider}) could not load the policy's ${kind} graph (${shapeKey(config)}): ` +
          `${String((cause as Error)?.message ?? cause).split("\n")[0]}`,
        cause
      })
  })

/**
 * Run a session (every output, or only `outputs`: onnxruntime-node copies each fetched output
 * into a fresh JS buffer, ~1 ms a MB here, so a big output nobody reads is left in the graph).
 * A failure names the graph.
 */
export const runSession = (session: Ort.InferenceSession, kind: GraphKind, feeds: Feeds, outputs?: ReadonlyArray<string>): Effect.Effect<Fetches, OnnxError> =>
  Effect.tryPromise({
    try: () => (outputs ? session.run(feeds, [...outputs]) : session.run(feeds)) as Promise<Fetches>,
    catch: (cause) =>
      new OnnxError({ message: `onnxruntime failed running the policy's ${kind} graph: ${String((cause as Error)?.message ?? cause).split("\n")[0]}`, cause })
  })

/** A pool of sessions, released (every one) when the scope closes. */
export const make = (options: OnnxOptions): Effect.Effect<OnnxSessions, never, Scope.Scope> =>
  Effect.gen(function*() {
    const ort = yield* loadOrt
    const sessions = new Map<string, Ort.InferenceSession>()
    const creating = yield* Semaphore.make(1)
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        const all = [...sessions.values()]
        sessions.clear()
        for (const s of all) await s.release()
      })
    )
    const session = (kind: GraphKind, config: ModelConfig) =>
      Effect.suspend(() => {
        const key = `${kind}:${shapeKey(config)}`
        const hit = sessions.get(key)
        if (hit) return Effect.succeed(hit)
        return Semaphore.withPermits(creating, 1)(Effect.suspend(() => {
          const again = sessions.get(key)
          if (again) return Effect.succeed(again)
          return Effect.tap(createSession(ort, kind, config, options), (s) => Effect.sync(() => sessions.set(key, s)))
        }))
      })
    return {
      options,
      ort,
      session,
      run: (kind, config, feeds, outputs) => Effect.flatMap(session(kind, config), (s) => runSession(s, kind, feeds, outputs))
    } satisfies OnnxSessions
  })

/** One pool per command, shared by the onnx Sampler and Trainer layers; released with the layer. */
export class OnnxSessionPool extends Context.Service<OnnxSessionPool, OnnxSessions>()("@odpo/model/OnnxSessionPool") {
  static readonly layer = (options: OnnxOptions): Layer.Layer<OnnxSessionPool> => Layer.effect(OnnxSessionPool, make(options))
}
