import { assert, describe, it } from "@effect/vitest"
import {
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  parse,
  readFloat32,
  readInt,
  SafetensorsFormatError,
  serialize
} from "../src/Safetensors.ts"

const bits = (f: Float32Array) => Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length))

/** The error message of a parse that must fail. */
const parseError = (bytes: Uint8Array): string => {
  try {
    parse(bytes)
  } catch (e) {
    assert.instanceOf(e, SafetensorsFormatError)
    return (e as Error).message
  }
  return assert.fail("parse accepted a bad file")
}

describe("Safetensors", () => {
  it("F32 round trip is bit-exact (−0, NaN payloads, ±inf, subnormals) and the layout follows the spec", () => {
    const special = new Float32Array(8)
    new Uint32Array(special.buffer).set([0x80000000, 0x7fc00001, 0x7f800000, 0xff800000, 0x00000001, 0x007fffff, 0x3f800000, 0xc0490fdb])
    const random = new Float32Array(1000).map((_, i) => Math.sin(i * 12.9898) * 43758.5453 % 7)
    const bytes = serialize([
      { name: "w", dtype: "F32", shape: [2, 4], data: special },
      { name: "r", dtype: "F32", shape: [10, 100], data: random }
    ], { format: "pt" })
    // 8-byte header length, then a JSON header padded to 8 bytes, then 4·8 + 4·1000 data bytes.
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true))
    assert.strictEqual(n % 8, 0)
    assert.strictEqual(bytes.length, 8 + n + 4 * 1008)
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))
    assert.deepStrictEqual(header.w, { dtype: "F32", shape: [2, 4], data_offsets: [0, 32] })
    assert.deepStrictEqual(header.r.data_offsets, [32, 4032])
    assert.deepStrictEqual(header.__metadata__, { format: "pt" })
    const file = parse(bytes)
    assert.deepStrictEqual(bits(readFloat32(file, "w")), bits(special))
    assert.deepStrictEqual(bits(readFloat32(file, "r")), bits(random))
    assert.deepStrictEqual(file.metadata, { format: "pt" })
  })

  it("f32 → f16 rounds to nearest even, handles overflow, subnormals, NaN; matches hand-checked bits", () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
      [65519, 0x7bff], // below the midpoint to 65536: stays max
      [65520, 0x7c00], // the midpoint rounds to even, i.e. up to 65536 = inf
      [1e6, 0x7c00], [-Infinity, 0xfc00], [-0, 0x8000],
      [0.1, 0x2e66], [1 / 3, 0x3555],
      [1 + 2 ** -11, 0x3c00], // tie → even mantissa (0)
      [1 + 3 * 2 ** -11, 0x3c02], // tie → even mantissa (2)
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // exactly half of it: tie → even (0)
      [1.5 * 2 ** -25, 0x0001],
      [1e-8, 0x0000], [-1e-8, 0x8000],
      [6e-5, 0x03ef] // a subnormal: 6e-5 · 2^24 = 1006.63… → 1007 = 0x3ef
    ]
    for (const [x, h] of cases) assert.strictEqual(f32ToF16Bits(x), h, `f16(${x})`)
    const nan = f32ToF16Bits(NaN)
    assert.strictEqual(nan & 0x7c00, 0x7c00)
    assert.notStrictEqual(nan & 0x3ff, 0)
    assert.isNaN(f16BitsToF32(nan))
    // f16 → f32 on hand-checked values
    assert.strictEqual(f16BitsToF32(0x3555), 0.333251953125)
    assert.strictEqual(f16BitsToF32(0x0001), 2 ** -24)
    assert.strictEqual(f16BitsToF32(0x7bff), 65504)
    assert.strictEqual(f16BitsToF32(0xfc00), -Infinity)
    assert.isTrue(Object.is(f16BitsToF32(0x8000), -0))
    // Every non-NaN half survives half → f32 → half.
    let mismatches = 0
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue
      if (f32ToF16Bits(f16BitsToF32(h)) !== h) mismatches++
    }
    assert.strictEqual(mismatches, 0)
  })

  it("F16 and BF16 tensors read back as f32; I64 and I32 read as integers", () => {
    const values = new Float32Array([1, -2, 65504, 0.1, 2 ** -24, NaN, 1e-8, 3.14159])
    const ints = new Int32Array([1, -2, 2 ** 31 - 1])
    const longs = new BigInt64Array([1n, -2n, 2n ** 40n])
    const file = parse(serialize([
      { name: "h", dtype: "F16", shape: [8], data: values },
      { name: "b", dtype: "BF16", shape: [8], data: values },
      { name: "i", dtype: "I32", shape: [3], data: ints },
      { name: "l", dtype: "I64", shape: [3], data: longs }
    ]))
    const h = Array.from(readFloat32(file, "h"))
    assert.deepStrictEqual(h.filter((_, i) => i !== 5), [1, -2, 65504, 0.0999755859375, 2 ** -24, 0, 3.140625])
    assert.isNaN(h[5]!)
    // bf16 keeps f32's exponent and 8 mantissa bits: 0.1 → 0x3dcd → 0.10009765625, 3.14159 → 0x4049 → 3.140625
    assert.strictEqual(f32ToBf16Bits(1), 0x3f80)
    assert.strictEqual(f32ToBf16Bits(0.1), 0x3dcd)
    const b = Array.from(readFloat32(file, "b"))
    assert.deepStrictEqual([b[0], b[1], b[3], b[7]], [1, -2, 0.10009765625, 3.140625])
    assert.isNaN(b[5]!)
    const i32 = readInt(file, "i")
    assert.instanceOf(i32, Int32Array)
    assert.deepStrictEqual(Array.from(i32 as Int32Array), [1, -2, 2 ** 31 - 1])
    const i64 = readInt(file, "l")
    assert.instanceOf(i64, BigInt64Array)
    assert.deepStrictEqual(Array.from(i64 as BigInt64Array), [1n, -2n, 2n ** 40n])
    assert.deepStrictEqual(Array.from(readFloat32(file, "l")), [1, -2, 2 ** 40])
    assert.throws(() => readInt(file, "h"), /tensor h is F16, not an integer dtype/)
  })

  it("refuses truncated, padded, overlapping and mislabelled files, saying what is wrong", () => {
    const good = serialize([
      { name: "a", dtype: "F32", shape: [2, 3], data: new Float32Array(6).fill(1) },
      { name: "b", dtype: "F32", shape: [4], data: new Float32Array(4).fill(2) }
    ])
    assert.match(parseError(good.subarray(0, good.length - 3)), /tensor b: data_offsets end at byte 40 but the data buffer has only 37 bytes: the file is truncated/)
    assert.match(parseError(good.subarray(0, 5)), /shorter than the 8-byte header length/)
    assert.match(parseError(good.subarray(0, 20)), /the header claims \d+ bytes but only 12 follow/)
    const longer = new Uint8Array(good.length + 4)
    longer.set(good)
    assert.match(parseError(longer), /the tensors cover 40 bytes but the data buffer has 44/)
    const edit = (f: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void) => {
      const n = Number(new DataView(good.buffer).getBigUint64(0, true))
      const header = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + n)))
      f(header)
      const json = new TextEncoder().encode(JSON.stringify(header))
      const out = new Uint8Array(8 + json.length + good.length - 8 - n)
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
      out.set(json, 8)
      out.set(good.subarray(8 + n), 8 + json.length)
      return out
    }
    assert.match(parseError(edit((h) => (h.a!.shape = [2, 4]))), /tensor a: F32 \[2,4\] needs 32 bytes but data_offsets \[0, 24\] span 24/)
    assert.match(parseError(edit((h) => (h.b!.data_offsets = [20, 36]))), /tensor b begins at byte 20 but the previous tensor ended at 24/)
    assert.match(parseError(edit((h) => (h.a!.dtype = "F8_E4M3"))), /tensor a: dtype "F8_E4M3" is not supported/)
    assert.match(parseError(edit((h) => (h.a!.shape = [-1, 6] as number[]))), /shape \[-1,6\] is not a list of non-negative integers/)
    const notJson = good.slice()
    notJson[8] = 0x5b // '['
    assert.match(parseError(notJson), /JSON header does not parse|not a JSON object/)
  })
})
