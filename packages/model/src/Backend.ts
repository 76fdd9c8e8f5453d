/**
 * Chooses the engine at start and says which it took, and on what device. tfjs backends are
 * activated globally; onnxruntime engines (onnx, onnx-webgpu) are checked here and run by the
 * Sampler/Trainer layers the CLI wires for them.
 */
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { Effect } from "effect"
import { existsSync, readdirSync } from "node:fs"
import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import { dirname, join } from "node:path"
import { Errors, type RunConfig } from "@odpo/core"
import { type Architecture, architectures, onnxUse } from "./Architectures.ts"
import { encodeOnnxModel } from "./OnnxWriter.ts"
import * as WebGpu from "./WebGpu.ts"

const { BackendUnavailable } = Errors
type BackendUnavailable = Errors.BackendUnavailable

export type BackendChoice = RunConfig.Backend
export type BackendName = Exclude<BackendChoice, "auto">
/** The tfjs backends this module activates. */
type TfjsBackend = "tensorflow-gpu" | "tensorflow" | "cpu"

/** The engine a command runs on: the backend taken and the device under it (recorded in `runs`). */
export interface EngineInfo {
  readonly backend: BackendName
  /** e.g. "cpu (pure JS)", an adapter's vendor/device/driver, "onnxruntime cpu, 2 threads". */
  readonly device: string
  /** One line the user should see, e.g. that webgpu runs on a software adapter. */
  readonly warning?: string
}

/** The npm package that registers each native backend, and how to install it. */
const nativePackages: Record<Exclude<TfjsBackend, "cpu">, string> = {
  "tensorflow-gpu": "@tensorflow/tfjs-node-gpu",
  tensorflow: "@tensorflow/tfjs-node"
}

const require = createRequire(import.meta.url)

/** Load a native backend's package (it registers itself with tfjs-core), or say why not. */
const loadNative = (name: Exclude<TfjsBackend, "cpu">): Effect.Effect<void, BackendUnavailable> =>
  Effect.try({
    try: () => {
      // Look for the native addon before importing: a package installed without its build step
      // registers half its kernels and then throws, which leaves noise in tfjs's registry.
      const root = dirname(require.resolve(`${nativePackages[name]}/package.json`))
      const lib = join(root, "lib")
      const built = existsSync(lib) && readdirSync(lib).some((d) => existsSync(join(lib, d, "tfjs_binding.node")))
      if (!built) throw new Error(`${nativePackages[name]} is installed without its native addon (lib/napi-*/tfjs_binding.node)`)
      require(nativePackages[name])
      if (tf.findBackend(name) === null && tf.findBackendFactory(name) === null) {
        throw new Error(`${nativePackages[name]} loaded but registered no "${name}" backend (two copies of @tensorflow/tfjs-core?)`)
      }
    },
    catch: (cause) =>
      new BackendUnavailable({
        backend: name,
        message: `tfjs backend "${name}" is not available: ${String((cause as Error)?.message ?? cause).split("\n")[0]}. ` +
          `Install it with its native build allowed (set '${nativePackages[name]}: true' under allowBuilds in ` +
          `pnpm-workspace.yaml, then \`pnpm install\`), or use engine.backend "cpu" / "auto".`,
        cause
      })
  })

const activate = (name: TfjsBackend): Effect.Effect<EngineInfo, BackendUnavailable> =>
  Effect.tryPromise({
    try: async () => {
      // PROD silences tfjs's console banner ("install our node backend"): the choice is reported instead.
      tf.env().set("PROD", true)
      const ok = await tf.setBackend(name)
      if (!ok) throw new Error(`tf.setBackend("${name}") returned false`)
      await tf.ready()
      return { backend: name, device: name === "cpu" ? "cpu (pure JS)" : `${name} (tfjs-node)` }
    },
    catch: (cause) =>
      new BackendUnavailable({ backend: name, message: `tfjs backend "${name}" failed to initialise: ${String(cause)}`, cause })
  })

/** How to get a WebGPU adapter, for the error that says none was found. */
const webgpuHelp = "On an NVIDIA machine: the Vulkan loader (Debian: apt-get install libvulkan1) and the driver's ICD " +
  "(VK_DRIVER_FILES=…/nvidia_icd.json); without a GPU: Mesa's llvmpipe (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri). " +
  "Or use --backend cpu."

/**
 * tfjs on Dawn. `hardwareOnly` (auto): a software adapter does not count. Otherwise the best
 * adapter, hardware first, else llvmpipe through OpenGL with a warning.
 */
const activateWebGpu = (hardwareOnly: boolean): Effect.Effect<EngineInfo, BackendUnavailable> =>
  Effect.tryPromise({
    try: async () => {
      tf.env().set("PROD", true)
      const { adapter, hardwareMissing } = await WebGpu.activate(!hardwareOnly)
      const device = WebGpu.describeAdapter(adapter)
      return {
        backend: "webgpu" as const,
        device,
        ...(adapter.software
          ? { warning: `webgpu runs on a software adapter (${adapter.device || "CPU"}): correct but slow${hardwareMissing ? `; no hardware adapter: ${hardwareMissing}` : ""}` }
          : {})
      }
    },
    catch: (cause) =>
      new BackendUnavailable({
        backend: "webgpu",
        message: cause instanceof WebGpu.NoAdapter
          ? `webgpu: no ${hardwareOnly ? "hardware " : ""}adapter: ${cause.message}. ${webgpuHelp}`
          : `webgpu: the adapter was found but tfjs's webgpu backend did not start on it: ${String((cause as Error)?.message ?? cause).split("\n")[0]}`,
        cause
      })
  })

/** onnxruntime engines: the execution provider behind each backend name. */
export const onnxProviders = { onnx: "cpu", "onnx-webgpu": "webgpu" } as const
export type OnnxBackend = keyof typeof onnxProviders

export const isOnnxBackend = (name: string): name is OnnxBackend => name in onnxProviders

/** y = x + 1: enough to prove a provider loads and runs. */
const probeModel = () =>
  encodeOnnxModel({
    name: "odpo_probe",
    nodes: [{ opType: "Add", inputs: ["x", "one"], outputs: ["y"] }],
    initializers: [{ name: "one", dataType: "float32", dims: [], data: Float32Array.of(1) }],
    inputs: [{ name: "x", dataType: "float32", shape: [2] }],
    outputs: [{ name: "y", dataType: "float32", shape: [2] }]
  })

const howToGetOnnx: Record<OnnxBackend, string> = {
  onnx: "onnxruntime-node ships its CPU provider in the npm package: reinstall it (`pnpm install`), or use engine.backend \"cpu\"",
  "onnx-webgpu": "onnxruntime-node's WebGPU provider needs a GPU adapter (NVIDIA through Vulkan: the libvulkan1 loader and the " +
    "driver's ICD, see gpu/README.md; Apple through Metal; Windows through D3D12); or use engine.backend \"onnx\" on the CPU"
}

/**
 * Check that onnxruntime-node loads and its provider runs a probe graph; tfjs `cpu` is activated
 * too (the losses' tiny tensors run there). `threads` 0 = onnxruntime's default, one per core.
 */
const activateOnnx = (name: OnnxBackend, threads: number): Effect.Effect<EngineInfo, BackendUnavailable> =>
  Effect.tryPromise({
    try: async () => {
      const ort = await import("onnxruntime-node")
      const provider = onnxProviders[name]
      const listed = ort.listSupportedBackends()
      if (!listed.some((b) => b.name === provider && b.bundled)) {
        throw new Error(`onnxruntime-node ${ort.env.versions.common} has no bundled "${provider}" provider (it lists ${listed.map((b) => b.name).join(", ")})`)
      }
      const session = await ort.InferenceSession.create(probeModel(), { executionProviders: [provider], logSeverityLevel: 3 })
      try {
        const out = await session.run({ x: new ort.Tensor("float32", Float32Array.of(1, 2), [2]) })
        if ((out["y"]!.data as Float32Array)[1] !== 3) throw new Error(`the "${provider}" provider computed 2 + 1 = ${(out["y"]!.data as Float32Array)[1]}`)
      } finally {
        await session.release()
      }
      await Effect.runPromise(activate("cpu"))
      const what = provider === "cpu"
        ? `cpu (MLAS), ${threads > 0 ? threads : `${availableParallelism()} (default)`} threads`
        : "webgpu"
      return { backend: name, device: `onnxruntime ${ort.env.versions.common} ${what}` }
    },
    catch: (cause) =>
      new BackendUnavailable({
        backend: name,
        message: `backend "${name}" is not available: ${onnxruntimeReason(cause)}. ${howToGetOnnx[name]}`,
        cause
      })
  })

/** onnxruntime's own words, without its source location ("/onnxruntime_src/…cc:136 … was false."). */
const onnxruntimeReason = (cause: unknown) =>
  String((cause as Error)?.message ?? cause).split("\n")[0]!.replace(/^\/\S+:\d+ .*? was false\. /, "").replace(/\.$/, "")

export interface EngineOptions {
  /** onnxruntime's intra-op threads (engine.threads); 0 = its default. */
  readonly threads?: number
  /**
   * The policy's architecture (default gpt2) and what the command does with it (default
   * "training"; `odpo sample`: "inference"). Where the architecture lacks the onnx graphs for it
   * (an entry of Architectures.table without a vjp), the onnx backends refuse and `auto` skips them, saying so.
   */
  readonly architecture?: Architecture
  readonly use?: "training" | "inference"
}

/**
 * Select and activate a backend. `auto` takes a hardware WebGPU adapter, then the first of
 * tensorflow-gpu, tensorflow, onnx (onnxruntime on the CPU), cpu that loads; naming one
 * explicitly fails with instructions when it is absent. Returns the name taken and its device.
 */
export const selectBackend = (choice: BackendChoice, options: EngineOptions = {}): Effect.Effect<EngineInfo, BackendUnavailable> => {
  const threads = options.threads ?? 0
  const architecture = options.architecture ?? "gpt2"
  const use = options.use ?? "training"
  const can = (a: Architecture) => onnxUse(a) === "training" || (use === "inference" && onnxUse(a) === "inference")
  const hasGraphs = can(architecture)
  const noGraphs = use === "training"
    ? `architecture ${JSON.stringify(architecture)} has no onnx training (VJP) graphs (only ${architectures.filter(can).join(", ")} train on onnx)`
    : `architecture ${JSON.stringify(architecture)} has no onnx graphs (only ${architectures.filter(can).join(", ")} have them)`
  if (choice === "cpu") return activate("cpu")
  if (choice === "webgpu") return activateWebGpu(false)
  if (isOnnxBackend(choice)) {
    if (!hasGraphs) return Effect.fail(new BackendUnavailable({ backend: choice, message: `backend "${choice}" cannot run this policy: ${noGraphs}; choose --backend cpu or webgpu` }))
    return activateOnnx(choice, threads)
  }
  if (choice !== "auto") {
    if (!(choice in nativePackages)) {
      return Effect.fail(
        new BackendUnavailable({
          backend: choice,
          message: `backend "${choice}" is not available in this build: use auto, webgpu, onnx, onnx-webgpu, tensorflow-gpu, tensorflow or cpu`
        })
      )
    }
    return loadNative(choice as Exclude<TfjsBackend, "cpu">).pipe(Effect.andThen(activate(choice as TfjsBackend)))
  }
  const attempt = (name: Exclude<TfjsBackend, "cpu">) =>
    loadNative(name).pipe(Effect.andThen(activate(name)), Effect.option)
  return Effect.gen(function*() {
    const gpu = yield* Effect.option(activateWebGpu(true))
    if (gpu._tag === "Some") return gpu.value
    for (const name of ["tensorflow-gpu", "tensorflow"] as const) {
      const taken = yield* attempt(name)
      if (taken._tag === "Some") return taken.value
    }
    // No GPU: onnxruntime's MLAS before tfjs's pure-JS kernels (where the architecture has graphs)
    if (!hasGraphs) return { ...(yield* activate("cpu")), warning: `auto skipped onnx: ${noGraphs}` }
    const onnx = yield* Effect.option(activateOnnx("onnx", threads))
    if (onnx._tag === "Some") return onnx.value
    return yield* activate("cpu")
  })
}

/** The backend tfjs is using now. */
export const currentBackend = (): string => tf.getBackend()
