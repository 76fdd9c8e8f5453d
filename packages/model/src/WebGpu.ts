/**
 * tfjs's webgpu backend on Dawn (the `webgpu` npm package): find an adapter (hardware first, Mesa's
 * llvmpipe through Dawn's OpenGL backend at the `compatibility` feature level when allowed), say
 * what it is, and register tfjs's WebGPUBackend on it. Dawn and the backend load on first use only.
 *
 * tfjs-backend-webgpu registers itself at import time only where `navigator.gpu` already exists;
 * here it never does: this module builds the backend on the adapter it chose, so import order
 * does not matter and the adapter tfjs runs on is the one reported.
 */
import * as tf from "@tensorflow/tfjs-core"
import { platform } from "node:process"
import { registerWebGpuKernels } from "./WebGpuKernels.ts"

/** What Dawn says about an adapter, and how it was reached. */
export interface Adapter {
  readonly vendor: string
  readonly architecture: string
  readonly device: string
  /** The driver, e.g. "NVIDIA: 570.86.15" or "OpenGL version 4.5 (Core Profile) Mesa 22.3.6". */
  readonly description: string
  /** A CPU rasteriser (llvmpipe, lavapipe, SwiftShader, WARP): correct, never fast. */
  readonly software: boolean
  /** Dawn's backend: "default" (Vulkan / Metal / D3D12) or "opengl" (compatibility level). */
  readonly via: "default" | "opengl"
}

/** An adapter with the objects needed to open a device on it. */
interface Found {
  readonly adapter: Adapter
  readonly gpu: GPUAdapter
  /** The Dawn instance it came from. */
  readonly instance: GPU
}

/** Either an adapter or why there is none (each reason names what is missing). */
type Probe = { readonly found: Found } | { readonly missing: string }

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b/i

/** Tell a software adapter by its info: the name of the rasteriser shows in device or description. */
export const isSoftware = (info: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean }): boolean =>
  info.isFallbackAdapter === true || SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].join(" "))

/** One line for logs and `runs.device`: device, vendor/architecture, driver, and how it is reached. */
export const describeAdapter = (a: Adapter): string => {
  const vendor = [a.vendor || (/mesa/i.test(a.description) ? "mesa" : ""), a.architecture].filter(Boolean).join(" ")
  const how = a.via === "opengl" ? ", via OpenGL (compatibility)" : ""
  return `${a.device || "unnamed adapter"}${vendor ? ` [${vendor}]` : ""}, driver ${a.description || "unknown"}${a.software ? ", software" : ""}${how}`
}

/** Whether the dynamic loader can open `lib` (dlopen succeeds, then Node refuses it as an addon). */
const canLoad = (lib: string): boolean => {
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, lib)
    return true
  } catch (e) {
    return !/cannot open shared object|no such file|image not found/i.test(String((e as Error)?.message))
  }
}

type Dawn = { create: (options: Array<string>) => GPU; globals: object }
let dawn: Promise<Dawn> | undefined
/** Load dawn.node once; GPU* constants (GPUBufferUsage, …) become globals, as tfjs expects in a browser. */
const loadDawn = (): Promise<Dawn> =>
  (dawn ??= import("webgpu").then((m) => {
    const d = m as unknown as Dawn
    Object.assign(globalThis, d.globals)
    return d
  }))

const toAdapter = (gpu: GPUAdapter, via: Adapter["via"]): Adapter => {
  const info = gpu.info
  return {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
    software: isSoftware(info),
    via
  }
}

/** Dawn's default backend (Vulkan on Linux, Metal, D3D12), high-performance adapter. */
const probeDefault = async (): Promise<Probe> => {
  if (platform === "linux" && !canLoad("libvulkan.so.1")) {
    return { missing: "no Vulkan loader (libvulkan.so.1; Debian: apt-get install libvulkan1)" }
  }
  const { create } = await loadDawn()
  const instance = create([])
  const gpu = await instance.requestAdapter({ powerPreference: "high-performance" })
  if (!gpu) {
    return {
      missing: platform === "linux"
        ? "the Vulkan loader found no driver ICD (point VK_DRIVER_FILES at the driver's icd.d JSON, e.g. /usr/share/vulkan/icd.d/nvidia_icd.json)"
        : "Dawn found no adapter (Metal / D3D12)"
    }
  }
  return { found: { adapter: toAdapter(gpu, "default"), gpu, instance } }
}

/** Mesa's llvmpipe through Dawn's OpenGL backend: Dawn takes it only at the compatibility level. */
const probeOpenGl = async (): Promise<Probe> => {
  if (platform !== "linux") return { missing: "no software adapter on this platform" }
  if (!canLoad("libEGL.so.1")) {
    return { missing: "no EGL (Mesa's packages: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri)" }
  }
  // Headless EGL on the CPU: no display server, and Mesa's software rasteriser even beside a GPU.
  process.env["EGL_PLATFORM"] ??= "surfaceless"
  process.env["LIBGL_ALWAYS_SOFTWARE"] ??= "1"
  const { create } = await loadDawn()
  const instance = create(["backend=opengl"])
  const gpu = await instance.requestAdapter({ featureLevel: "compatibility" } as GPURequestAdapterOptions)
  if (!gpu) {
    return { missing: "EGL found no OpenGL driver (Mesa's packages: apt-get install libegl-mesa0 libgl1-mesa-dri; EGL_PLATFORM=surfaceless)" }
  }
  return { found: { adapter: toAdapter(gpu, "opengl"), gpu, instance } }
}

const probes: { hardware?: Promise<Probe>; software?: Promise<Probe> } = {}

/** The hardware adapter, or why there is none (a software adapter on the default backend counts as none). */
export const findHardware = async (): Promise<{ adapter: Adapter } | { missing: string }> => {
  const p = await (probes.hardware ??= probeDefault())
  if ("found" in p && p.found.adapter.software) return { missing: `only a software adapter (${describeAdapter(p.found.adapter)})` }
  return "found" in p ? { adapter: p.found.adapter } : p
}

/** The best adapter: hardware, else (when allowed) llvmpipe through OpenGL. */
const best = async (allowSoftware: boolean): Promise<Probe> => {
  const hw = await (probes.hardware ??= probeDefault())
  if ("found" in hw && !hw.found.adapter.software) return hw
  if (!allowSoftware) return { missing: "found" in hw ? `only a software adapter (${describeAdapter(hw.found.adapter)})` : hw.missing }
  if ("found" in hw) return hw // a software adapter on the default backend (e.g. SwiftShader) still runs
  const sw = await (probes.software ??= probeOpenGl())
  return "found" in sw ? sw : { missing: `hardware: ${hw.missing}; software: ${sw.missing}` }
}

/** Set navigator.gpu (Node ≥ 21 has a navigator without gpu; Node 20 has none). */
const exposeNavigatorGpu = (instance: GPU): void => {
  const g = globalThis as { navigator?: object }
  if (g.navigator === undefined) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true })
  Object.defineProperty(g.navigator, "gpu", { value: instance, configurable: true })
}

/**
 * The first error the device reported. WebGPU reports a failed shader or dispatch asynchronously and
 * the computation yields zeros: a result read after one must never be taken for a number.
 */
let deviceError: string | undefined

const watchErrors = (device: GPUDevice): void => {
  device.addEventListener("uncapturederror", (event) => {
    deviceError ??= (event as GPUUncapturedErrorEvent).error.message.split("\n")[0]
  })
  void device.lost.then((info) => {
    deviceError ??= `device lost (${info.reason}): ${info.message}`
  })
}

/** Every read-back (tensor.data()) fails once the device has reported an error. */
const guardReads = <B extends { read: (dataId: object) => Promise<unknown> }>(backend: B): B => {
  const read = backend.read.bind(backend)
  backend.read = async (dataId) => {
    const values = await read(dataId)
    if (deviceError !== undefined) throw new Error(`webgpu: the device reported an error, so its results are invalid: ${deviceError}`)
    return values
  }
  return backend
}

/** No (usable) adapter; the message names what is missing. Other failures are the backend's. */
export class NoAdapter extends Error {}

/** The adapter tfjs's "webgpu" backend runs on, once registered. */
let active: Adapter | undefined

/** Where the software adapter is taken, the reason no hardware one was (for the one-line warning). */
export interface Activated {
  readonly adapter: Adapter
  readonly hardwareMissing?: string
}

/**
 * Register tfjs's "webgpu" backend on the best adapter and make it current. Rejects with a message
 * naming what is missing when there is no adapter (or, with allowSoftware false, no hardware one).
 */
export const activate = async (allowSoftware: boolean): Promise<Activated> => {
  if (active && tf.findBackend("webgpu")) {
    if (!allowSoftware && active.software) throw new NoAdapter(`only a software adapter (${describeAdapter(active)})`)
    await tf.setBackend("webgpu")
    return { adapter: active }
  }
  const probe = await best(allowSoftware)
  if (!("found" in probe)) throw new NoAdapter(probe.missing)
  const { gpu, adapter, instance } = probe.found
  const mod = await import("@tensorflow/tfjs-backend-webgpu")
  // CommonJS seen from ESM: named exports under Node, under `default` in the esbuild bundle
  const backendModule = (mod as unknown as { default?: typeof mod }).default ?? mod
  const { WebGPUBackend } = backendModule
  // The limits tfjs-backend-webgpu asks for in a browser (its base.ts): the adapter's own.
  const l = gpu.limits
  const device = await gpu.requestDevice({
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      // Dawn's default is 8; concat binds up to this many inputs per pass.
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage
    }
  })
  watchErrors(device)
  if (tf.findBackendFactory("webgpu") !== null) tf.removeBackend("webgpu")
  // WebGPUBackend's constructor checks navigator.gpu (after the import above, so that the module's
  // own registration, which would pick its own adapter, stays off).
  exposeNavigatorGpu(instance)
  // Built here, not in the factory: tf.setBackend swallows a factory's error.
  const backend = guardReads(new WebGPUBackend(device, gpu.info as never))
  tf.registerBackend("webgpu", () => backend, 1)
  registerWebGpuKernels(backendModule)
  if (!(await tf.setBackend("webgpu"))) throw new Error("tfjs could not initialise its webgpu backend on the adapter")
  await tf.ready()
  active = adapter
  const hw = await probes.hardware
  return { adapter, ...(adapter.software && hw && "missing" in hw ? { hardwareMissing: hw.missing } : {}) }
}
