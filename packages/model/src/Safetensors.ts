/**
 * The safetensors format, read and written: an 8-byte little-endian header length, a JSON
 * header (`name → {dtype, shape, data_offsets}` plus an optional string map `__metadata__`),
 * then one flat byte buffer that the tensors tile exactly (no holes, no overlaps).
 * F16 and BF16 convert to and from f32 here (round-to-nearest-even, subnormals, inf, nan).
 */
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { Errors } from "@odpo/core"

const { CheckpointCorrupt, CheckpointNotFound } = Errors
type CheckpointCorrupt = Errors.CheckpointCorrupt
type CheckpointNotFound = Errors.CheckpointNotFound

export type Dtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL"
export type WritableDtype = "F32" | "F16" | "BF16" | "I32" | "I64"

/** Bytes per element of each dtype. */
export const dtypeSize: Record<Dtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 }

export interface TensorInfo {
  readonly dtype: Dtype
  readonly shape: ReadonlyArray<number>
  /** [begin, end) in bytes, relative to the start of the data buffer. */
  readonly dataOffsets: readonly [number, number]
}

/** A parsed file: the header, the metadata, and the data buffer (a view into the file's bytes). */
export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, TensorInfo>
  readonly metadata: Readonly<Record<string, string>>
  readonly data: Uint8Array
}

/** A tensor to write: f32 values are converted to `dtype`; integer dtypes take integer arrays. */
export interface TensorToWrite {
  readonly name: string
  readonly dtype: WritableDtype
  readonly shape: ReadonlyArray<number>
  readonly data: Float32Array | Int32Array | BigInt64Array
}

/** What is wrong with a file's bytes; the callers add the path and turn it into CheckpointCorrupt. */
export class SafetensorsFormatError extends Error {}

const fail = (message: string): never => {
  throw new SafetensorsFormatError(message)
}

// ---------------------------------------------------------------- f16 / bf16 conversion

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** f32 → IEEE binary16 bits, rounding to nearest, ties to even; overflow → ±inf; NaN stays NaN. */
export const f32ToF16Bits = (value: number): number => {
  f32[0] = value
  const x = u32[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00 // NaN (kept quiet) / inf
  const e = exp - 127 + 15 // re-biased exponent
  if (e >= 0x1f) return sign | 0x7c00 // too large for f16: inf
  if (e <= 0) {
    // Subnormal f16 (or zero): value = m · 2^-24, m = 1.mant · 2^(e-1) · 2^24 = mant24 >> (14 − e)
    if (e < -10) return sign // below 2^-25: rounds to ±0
    mant |= 0x800000
    const shift = 14 - e
    let half = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const halfway = 1 << (shift - 1)
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++ // may carry into the smallest normal: correct
    return sign | half
  }
  let half = (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++ // a carry may reach 0x7c00 = inf: correct
  return sign | half
}

/** binary16 bits → number (exact). */
export const f16BitsToF32 = (h: number): number => {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >>> 10) & 0x1f
  const mant = h & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24 // ±0 and subnormals
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

/** A table of all 65536 halves: converting a large F16 checkpoint is one lookup per weight. */
let f16Table: Float32Array | undefined
const f16ToF32Table = (): Float32Array => {
  if (!f16Table) {
    f16Table = new Float32Array(65536)
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h)
  }
  return f16Table
}

/** bfloat16 bits are the top half of an f32; rounding f32 → bf16 is nearest-even on the low 16 bits. */
export const f32ToBf16Bits = (value: number): number => {
  f32[0] = value
  const x = u32[0]!
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return (x >>> 16) | 0x40 // NaN stays NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff
}

// ---------------------------------------------------------------- reading

const numel = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** Parse and validate a whole file's bytes. Throws SafetensorsFormatError saying what is wrong. */
export const parse = (bytes: Uint8Array): SafetensorsFile => {
  if (bytes.length < 8) fail(`the file is ${bytes.length} bytes long, shorter than the 8-byte header length: it is truncated or not safetensors`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLen = view.getBigUint64(0, true)
  if (headerLen > BigInt(bytes.length - 8)) {
    fail(`the header claims ${headerLen} bytes but only ${bytes.length - 8} follow: the file is truncated or not safetensors`)
  }
  const n = Number(headerLen)
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)))
  } catch (e) {
    return fail(`the ${n}-byte JSON header does not parse (${(e as Error).message})`)
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail("the header is not a JSON object")
  const data = bytes.subarray(8 + n)
  const tensors = new Map<string, TensorInfo>()
  let metadata: Record<string, string> = {}
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Object.values(raw).some((v) => typeof v !== "string")) {
        fail("__metadata__ must be an object of strings")
      }
      metadata = raw as Record<string, string>
      continue
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown }
    if (typeof info !== "object" || info === null) fail(`tensor ${name}: header entry is not an object`)
    if (typeof info.dtype !== "string" || !(info.dtype in dtypeSize)) {
      fail(`tensor ${name}: dtype ${JSON.stringify(info.dtype)} is not supported (${Object.keys(dtypeSize).join(", ")})`)
    }
    const shape = info.shape
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`)
    }
    const off = info.data_offsets
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1]) {
      fail(`tensor ${name}: data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 ≤ begin ≤ end`)
    }
    const dtype = info.dtype as Dtype
    const expected = numel(shape as number[]) * dtypeSize[dtype]
    const [begin, end] = off as [number, number]
    if (end - begin !== expected) {
      fail(`tensor ${name}: ${dtype} ${JSON.stringify(shape)} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`)
    }
    if (end > data.length) {
      fail(`tensor ${name}: data_offsets end at byte ${end} but the data buffer has only ${data.length} bytes: the file is truncated`)
    }
    tensors.set(name, { dtype, shape: shape as number[], dataOffsets: [begin, end] })
  }
  // The tensors must tile the buffer: sorted by offset, each begins where the previous ended.
  const spans = [...tensors.entries()].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0])
  let at = 0
  for (const [name, t] of spans) {
    if (t.dataOffsets[0] !== at) {
      fail(`tensor ${name} begins at byte ${t.dataOffsets[0]} but the previous tensor ended at ${at}: overlapping or holey data`)
    }
    at = t.dataOffsets[1]
  }
  if (at !== data.length) fail(`the tensors cover ${at} bytes but the data buffer has ${data.length}: trailing bytes after the last tensor`)
  return { tensors, metadata, data }
}

const info = (file: SafetensorsFile, name: string): TensorInfo =>
  file.tensors.get(name) ?? fail(`tensor ${name} is not in the file`)

/** A copy of a tensor's bytes in a fresh (aligned) buffer. */
const bytesOf = (file: SafetensorsFile, t: TensorInfo): ArrayBuffer =>
  file.data.slice(t.dataOffsets[0], t.dataOffsets[1]).buffer as ArrayBuffer

/** A tensor's values as f32, whatever its numeric dtype (F16/BF16 widen exactly; I64 rounds beyond 2^24). */
export const readFloat32 = (file: SafetensorsFile, name: string): Float32Array => {
  const t = info(file, name)
  const buf = bytesOf(file, t)
  switch (t.dtype) {
    case "F32": return new Float32Array(buf)
    case "F64": return Float32Array.from(new Float64Array(buf))
    case "F16": {
      const table = f16ToF32Table()
      const h = new Uint16Array(buf)
      const out = new Float32Array(h.length)
      for (let i = 0; i < h.length; i++) out[i] = table[h[i]!]!
      return out
    }
    case "BF16": {
      const h = new Uint16Array(buf)
      const bits = new Uint32Array(h.length)
      for (let i = 0; i < h.length; i++) bits[i] = h[i]! << 16
      return new Float32Array(bits.buffer)
    }
    case "I64": return Float32Array.from(new BigInt64Array(buf), (v) => Number(v))
    case "I32": return Float32Array.from(new Int32Array(buf))
    case "I16": return Float32Array.from(new Int16Array(buf))
    case "I8": return Float32Array.from(new Int8Array(buf))
    case "U8":
    case "BOOL": return Float32Array.from(new Uint8Array(buf))
  }
}

/** An integer tensor's values (I64 as bigint, I32/I16/I8/U8/BOOL widened to Int32Array). */
export const readInt = (file: SafetensorsFile, name: string): Int32Array | BigInt64Array => {
  const t = info(file, name)
  const buf = bytesOf(file, t)
  switch (t.dtype) {
    case "I64": return new BigInt64Array(buf)
    case "I32": return new Int32Array(buf)
    case "I16": return Int32Array.from(new Int16Array(buf))
    case "I8": return Int32Array.from(new Int8Array(buf))
    case "U8":
    case "BOOL": return Int32Array.from(new Uint8Array(buf))
    default: return fail(`tensor ${name} is ${t.dtype}, not an integer dtype`)
  }
}

// ---------------------------------------------------------------- writing

const encodeData = (t: TensorToWrite): Uint8Array => {
  const n = numel(t.shape)
  if (t.data.length !== n) fail(`tensor ${t.name}: shape ${JSON.stringify(t.shape)} has ${n} elements but the data has ${t.data.length}`)
  switch (t.dtype) {
    case "F32": {
      // Copy the bytes (not the values) so that NaN payloads survive bit-exactly.
      const d = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Int32Array)
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice()
    }
    case "F16":
    case "BF16": {
      const conv = t.dtype === "F16" ? f32ToF16Bits : f32ToBf16Bits
      const out = new Uint16Array(n)
      for (let i = 0; i < n; i++) out[i] = conv(Number(t.data[i]!))
      return new Uint8Array(out.buffer)
    }
    case "I32": return new Uint8Array(Int32Array.from(t.data as Int32Array).buffer)
    case "I64": {
      const out = new BigInt64Array(n)
      for (let i = 0; i < n; i++) out[i] = BigInt(t.data[i]!)
      return new Uint8Array(out.buffer)
    }
  }
}

/**
 * Serialise tensors, in the given order, to safetensors bytes. The header is padded with spaces
 * to a multiple of 8 so that every tensor of ≤ 8-byte elements starts aligned (as the Rust writer does).
 */
export const serialize = (tensors: ReadonlyArray<TensorToWrite>, metadata?: Readonly<Record<string, string>>): Uint8Array => {
  const chunks = tensors.map(encodeData)
  const header: Record<string, unknown> = {}
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata
  let at = 0
  tensors.forEach((t, i) => {
    if (t.name === "__metadata__" || t.name in header) fail(`duplicate or reserved tensor name ${t.name}`)
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + chunks[i]!.length] }
    at += chunks[i]!.length
  })
  let json = new TextEncoder().encode(JSON.stringify(header))
  const padded = Math.ceil(json.length / 8) * 8
  if (padded !== json.length) json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(padded - json.length))
  const out = new Uint8Array(8 + json.length + at)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  let pos = 8 + json.length
  for (const c of chunks) {
    out.set(c, pos)
    pos += c.length
  }
  return out
}

// ---------------------------------------------------------------- files

/** Read and parse a file; a missing file is CheckpointNotFound, bad bytes CheckpointCorrupt, both naming the path. */
export const readFileBytes = (path: string): Effect.Effect<Uint8Array, CheckpointNotFound | CheckpointCorrupt> =>
  Effect.tryPromise({
    try: () => readFile(path),
    catch: (cause) =>
      (cause as NodeJS.ErrnoException)?.code === "ENOENT"
        ? new CheckpointNotFound({ path, message: `${path} does not exist: check the path, or re-create the checkpoint` })
        : new CheckpointCorrupt({ path, message: `cannot read ${path}: ${String(cause)}`, cause })
  }).pipe(Effect.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)))

/** Parse bytes read from `path`, turning a format problem into CheckpointCorrupt naming the file. */
export const parseFile = (path: string, bytes: Uint8Array): Effect.Effect<SafetensorsFile, CheckpointCorrupt> =>
  Effect.try({
    try: () => parse(bytes),
    catch: (cause) => new CheckpointCorrupt({ path, message: `${path} is not a valid safetensors file: ${(cause as Error).message}`, cause })
  })

export const readSafetensors = (path: string): Effect.Effect<SafetensorsFile, CheckpointNotFound | CheckpointCorrupt> =>
  Effect.flatMap(readFileBytes(path), (bytes) => parseFile(path, bytes))
