/**
 * Reads just enough of an ONNX file's protobuf to find how many token ids a model accepts: the
 * rows of the initializer that a Gather looks `input_ids` up in (onnxruntime's API does not
 * expose initializers). Weights (raw_data) are skipped, not copied.
 */

interface Field {
  readonly field: number
  readonly wire: number
  /** varint value (wire 0) */
  readonly value: bigint
  /** bytes (wire 2) */
  readonly start: number
  readonly end: number
}

const readVarint = (b: Uint8Array, pos: number): [bigint, number] => {
  let result = 0n
  let shift = 0n
  for (;;) {
    if (pos >= b.length) throw new Error("truncated varint")
    const byte = b[pos++]!
    result |= BigInt(byte & 0x7f) << shift
    if ((byte & 0x80) === 0) return [result, pos]
    shift += 7n
    if (shift > 70n) throw new Error("varint too long")
  }
}

/** The fields of one message spanning b[start, end). */
const fields = (b: Uint8Array, start: number, end: number): Array<Field> => {
  const out: Array<Field> = []
  let pos = start
  while (pos < end) {
    const [key, p1] = readVarint(b, pos)
    const field = Number(key >> 3n)
    const wire = Number(key & 7n)
    pos = p1
    if (wire === 0) {
      const [v, p2] = readVarint(b, pos)
      out.push({ field, wire, value: v, start: pos, end: p2 })
      pos = p2
    } else if (wire === 2) {
      const [len, p2] = readVarint(b, pos)
      const e = p2 + Number(len)
      if (e > end) throw new Error("truncated length-delimited field")
      out.push({ field, wire, value: 0n, start: p2, end: e })
      pos = e
    } else if (wire === 5) pos += 4
    else if (wire === 1) pos += 8
    else throw new Error(`unsupported wire type ${wire}`)
  }
  if (pos !== end) throw new Error("message overruns its bounds")
  return out
}

const text = (b: Uint8Array, f: Field) => new TextDecoder().decode(b.subarray(f.start, f.end))

/** dims (field 1) of a TensorProto, packed or not. */
const tensorDims = (b: Uint8Array, tensor: Field): { name: string; dims: Array<number> } => {
  const dims: Array<number> = []
  let name = ""
  for (const f of fields(b, tensor.start, tensor.end)) {
    if (f.field === 8 && f.wire === 2) name = text(b, f)
    if (f.field === 1 && f.wire === 0) dims.push(Number(f.value))
    if (f.field === 1 && f.wire === 2) {
      let p = f.start
      while (p < f.end) {
        const [v, np] = readVarint(b, p)
        dims.push(Number(v))
        p = np
      }
    }
  }
  return { name, dims }
}

/**
 * Rows of the embedding table that `input_ids` indexes (Gather(table, input_ids) with the table an
 * initializer), or null when the graph does not have that shape. Throws on bytes that are not a
 * protobuf message (the caller reports the file).
 */
export const embeddingRows = (bytes: Uint8Array, inputName = "input_ids"): number | null => {
  const model = fields(bytes, 0, bytes.length)
  const graph = model.find((f) => f.field === 7 && f.wire === 2)
  if (!graph) return null
  const g = fields(bytes, graph.start, graph.end)
  const shapes = new Map<string, Array<number>>()
  for (const f of g) {
    if (f.field === 5 && f.wire === 2) {
      const t = tensorDims(bytes, f)
      shapes.set(t.name, t.dims)
    }
  }
  for (const f of g) {
    if (f.field !== 1 || f.wire !== 2) continue
    const node = fields(bytes, f.start, f.end)
    const op = node.find((x) => x.field === 4)
    if (!op || text(bytes, op) !== "Gather") continue
    const inputs = node.filter((x) => x.field === 1).map((x) => text(bytes, x))
    const table = shapes.get(inputs[0] ?? "")
    if (inputs[1] === inputName && table && table.length >= 1) return table[0]!
  }
  return null
}
