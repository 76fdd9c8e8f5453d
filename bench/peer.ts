/**
 * The PyTorch peers (bench/torch_*.py, Debian's python3-torch at /usr/bin/python3) as the benches
 * run them, and the fairness rule for a ratio against them: Debian's torch 1.13 calls whatever
 * libblas.so.3 is installed, and on the Netlib reference BLAS it is 5–8× slower than on OpenBLAS,
 * so a ratio against it says nothing about the engine. Each script reports the BLAS it actually
 * loaded (bench/torch_blas.py); a ratio is printed only against an optimised one.
 */
import { spawnSync } from "node:child_process"
import { loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { BenchFigure } from "./run.ts"

const here = dirname(fileURLToPath(import.meta.url))

export interface Blas {
  /** openblas, mkl, blis, atlas, reference (Netlib libblas3) or unknown */
  readonly kind: string
  readonly blas_info: string
  readonly libraries: ReadonlyArray<string>
}

export const OPTIMISED_BLAS = new Set(["openblas", "mkl", "blis"])

/** Why no ratio may be printed against this BLAS, or undefined when it is a fair peer. */
export const unfairBlas = (blas: Blas | undefined): string | undefined => {
  if (blas === undefined) return "the PyTorch script did not say which BLAS it ran on"
  if (OPTIMISED_BLAS.has(blas.kind)) return undefined
  const libs = blas.libraries.length > 0 ? ` (${blas.libraries.join(", ")})` : ""
  return `PyTorch runs its matmuls on the ${blas.kind} BLAS${libs}, 5–8× slower than OpenBLAS here: no ratio is printed against it. ` +
    `Install OpenBLAS (apt-get install libopenblas0-pthread; it takes over the libblas.so.3 alternative) and rerun`
}

/**
 * The last JSON line a torch script prints, or undefined where python3 has no torch. Its OpenMP
 * threads sleep between ops (OMP_WAIT_POLICY=PASSIVE) as onnxruntime's do here (allow_spinning 0):
 * on a shared machine spinning costs either side 2–3×, so both run the same policy.
 */
export const torch = <A>(script: string, args: ReadonlyArray<string>): (A & { blas?: Blas }) | undefined => {
  for (const python of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(python, [join(here, script), ...args], { encoding: "utf8", env: { ...process.env, OMP_WAIT_POLICY: "PASSIVE" } })
    if (r.status === 0) return JSON.parse(r.stdout.trim().split("\n").pop()!) as A & { blas?: Blas }
  }
  return undefined
}

/** Rounds per bench (pnpm bench --repeat N): engine and peer back to back in each round. */
export const rounds = (): number => Math.max(1, Number(process.env["ODPO_BENCH_REPEAT"] ?? "1") || 1)

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** "a–b" over rounds (one value: itself). */
export const range = (xs: ReadonlyArray<number>, digits = 2): string =>
  xs.length === 1 ? xs[0]!.toFixed(digits) : `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`

/** The 1-minute load average over the cores, for the notes: ratios on a shared machine move with it. */
export const load = (): string => `load ${loadavg()[0]!.toFixed(1)}`

export interface Measured {
  /** Per round: the engine's best rate and the peer's best rate (tokens/s), and the peer's BLAS. */
  readonly ours: Array<number>
  readonly peer: Array<number>
  readonly blas: Array<Blas | undefined>
  readonly loads: Array<number>
}

export const measured = (): Measured => ({ ours: [], peer: [], blas: [], loads: [] })

/** One round of a comparison: the engine's best, the load, and the peer's best with its BLAS when it ran. */
export const addRound = (m: Measured, ours: number, load: number, peer: { readonly blas?: Blas } | undefined, best: number | undefined): void => {
  m.ours.push(ours)
  m.loads.push(load)
  if (peer !== undefined && best !== undefined) {
    m.peer.push(best)
    m.blas.push(peer.blas)
  }
}

/**
 * The figures of one comparison over the rounds: both sides' rates (median over rounds, range in
 * the note), and the ratio of best to best per round (median, range) — or, against an unfair
 * BLAS, a figure that says why there is no ratio.
 */
export const comparison = (name: string, m: Measured, peerScript: string, target: number, unit = "tok/s"): Array<BenchFigure> => {
  const n = m.ours.length
  const loads = `load ${range(m.loads, 1)}`
  const out: Array<BenchFigure> = [{ name: `${name}, onnx`, value: median(m.ours), unit, note: `median of ${n} round(s), best call each (${range(m.ours, 0)}); ${loads}` }]
  if (m.peer.length === 0) return out
  out.push({ name: `${name}, torch`, value: median(m.peer), unit, note: `bench/${peerScript}, ${m.blas[0]?.kind ?? "?"} BLAS; median of ${n} (${range(m.peer, 0)})` })
  const unfair = m.blas.map(unfairBlas).find((u) => u !== undefined)
  if (unfair) {
    out.push({ name: `${name}, onnx / torch`, value: Number.NaN, unit: "×", note: unfair })
    return out
  }
  const ratios = m.ours.map((o, i) => o / m.peer[i]!)
  out.push({ name: `${name}, onnx / torch`, value: median(ratios), unit: "×", note: `best vs best, same round; ${n} round(s): ${range(ratios)}×; target ≥ ${target}×; ${loads}` })
  return out
}
