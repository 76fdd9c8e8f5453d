/**
 * AdamW's host update in WebAssembly SIMD (adamw.wat beside this file): four float32 lanes at a
 * time, bit for bit the values of AdamW.ts's JavaScript loop (see the .wat for why), some 5× faster
 * on a GPT-2-small step. The moments m and v of every parameter live in the module's memory for
 * the optimizer's life; each update copies the gradient and the parameter in and the new value out.
 * All of it must fit one WebAssembly memory (4 GiB): 2 floats of moments per parameter plus two
 * scratch copies of the largest tensor, so up to about 480 M parameters; past that `create` says
 * null and AdamW keeps the JavaScript loop.
 */

/** `wat2wasm --enable-simd adamw.wat` (npm wabt 1.0.39); test/AdamWKernel.test.ts checks the bytes. */
export const adamwWasmBase64 =
  "AGFzbQEAAAABEwFgD39/f39/fX19fX19fX19fQACEgEDZW52Bm1lbW9yeQIBAYCABAMCAQAHCQEFYWRhbXcAAAqMAwGJAwMDfw17A30gBf0TIRUgBv0TIRYgB/0TIRcgCP0TIRggCf0TIRkgCv0TIRogC/0TIRsgDP0TIRwgDf0TIR0gDv0TIR4gBEECdCERIBFBcHEhEEEAIQ8CQANAIA8gEE8NASAAIA9q/QACACAV/eYBIRIgFyACIA9q/QACAP3mASAYIBL95gH95AEhEyAZIAMgD2r9AAIA/eYBIBogEiAS/eYB/eYB/eQBIRQgAiAPaiAT/QsCACADIA9qIBT9CwIAIAEgD2ogASAPav0AAgAgFv3mASAeIBMgG/3nASAUIBz95wH94wEgHf3kAf3nAf3mAf3lAf0LAgAgD0EQaiEPDAALCwJAA0AgDyARTw0BIAAgD2oqAgAgBZQhHyAHIAIgD2oqAgCUIAggH5SSISAgCSADIA9qKgIAlCAKIB8gH5SUkiEhIAIgD2ogIDgCACADIA9qICE4AgAgASAPaiABIA9qKgIAIAaUIA4gICALlSAhIAyVkSANkpWUkzgCACAPQQRqIQ8MAAsLCw=="

const PAGE = 65536
const MAX_PAGES = 65536

interface Exports {
  readonly adamw: (
    g: number, theta: number, m: number, v: number, n: number,
    scale: number, keep: number, b1: number, c1: number, b2: number, c2: number, d1: number, d2: number, eps: number, rate: number
  ) => void
}

/** The part of the WebAssembly JS API used here (the project's TypeScript libs declare no DOM). */
interface Memory {
  readonly buffer: ArrayBuffer
}
interface WebAssemblyApi {
  readonly Module: new (bytes: Uint8Array) => object
  readonly Memory: new (descriptor: { readonly initial: number; readonly maximum: number }) => Memory
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown }
}
const wasm = (globalThis as unknown as { readonly WebAssembly?: WebAssemblyApi }).WebAssembly

let compiled: object | undefined
const wasmModule = (api: WebAssemblyApi) => (compiled ??= new api.Module(Buffer.from(adamwWasmBase64, "base64")))

/** The scalars of one step, each already a float32 value (Math.fround), as AdamW.applyOnHost makes them. */
export interface StepScalars {
  readonly scale: number
  readonly b1: number
  readonly c1: number
  readonly b2: number
  readonly c2: number
  readonly d1: number
  readonly d2: number
  readonly eps: number
  readonly rate: number
}

export class WasmAdamW {
  private constructor(
    private readonly memory: Memory,
    private readonly run: Exports["adamw"],
    /** float index of parameter i's m; its v is at `vBase + offsets[i]` */
    private readonly offsets: ReadonlyArray<number>,
    private readonly sizes: ReadonlyArray<number>,
    private readonly vBase: number,
    private readonly gAt: number,
    private readonly thetaAt: number
  ) {}

  /** Moments for parameters of these sizes (zeros), or null when they do not fit one WebAssembly memory. */
  static create(sizes: ReadonlyArray<number>): WasmAdamW | null {
    const total = sizes.reduce((a, b) => a + b, 0)
    const largest = sizes.reduce((a, b) => Math.max(a, b), 0)
    const floats = 2 * total + 2 * largest
    const pages = Math.max(1, Math.ceil((floats * 4) / PAGE))
    if (pages > MAX_PAGES || wasm === undefined) return null
    let memory: Memory
    try {
      memory = new wasm.Memory({ initial: pages, maximum: pages })
    } catch {
      return null // the process cannot reserve it: the JavaScript loop needs the same bytes, as arrays
    }
    const instance = new wasm.Instance(wasmModule(wasm), { env: { memory } })
    const offsets: Array<number> = []
    let at = 0
    for (const n of sizes) {
      offsets.push(at)
      at += n
    }
    return new WasmAdamW(memory, (instance.exports as unknown as Exports).adamw, offsets, sizes, total, 2 * total, 2 * total + largest)
  }

  /** Parameter i's moments, as views of the module's memory (read them, do not keep them across updates). */
  moments(i: number): { readonly m: Float32Array; readonly v: Float32Array } {
    const n = this.sizes[i]!
    const all = new Float32Array(this.memory.buffer)
    return { m: all.subarray(this.offsets[i]!, this.offsets[i]! + n), v: all.subarray(this.vBase + this.offsets[i]!, this.vBase + this.offsets[i]! + n) }
  }

  /** One update of parameter i from its gradient and current value; its new value, in a new array. */
  update(i: number, g: Float32Array, theta: Float32Array, keep: number, s: StepScalars): Float32Array {
    const n = this.sizes[i]!
    if (g.length !== n || theta.length !== n) throw new Error(`AdamW: parameter ${i} has ${n} values, its gradient ${g.length} and value ${theta.length}`)
    const all = new Float32Array(this.memory.buffer)
    all.set(g, this.gAt)
    all.set(theta, this.thetaAt)
    this.run(
      this.gAt * 4, this.thetaAt * 4, this.offsets[i]! * 4, (this.vBase + this.offsets[i]!) * 4, n,
      s.scale, keep, s.b1, s.c1, s.b2, s.c2, s.d1, s.d2, s.eps, s.rate
    )
    return all.slice(this.thetaAt, this.thetaAt + n)
  }
}
