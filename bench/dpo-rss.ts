/**
 * One bench shape's DPO step on the onnx engine in a process of its own, so that its peak RSS is
 * the step's (weights, AdamW moments, gradients, activations, sessions) and not the rest of the
 * bench's: `tsx bench/dpo-rss.ts SHAPE THREADS` prints {best, mean, maxRssMb} as one JSON line.
 * onnx-smollm.bench.ts runs it beside torch_dpo.py, which reports its own ru_maxrss.
 */
import { Onnx } from "@odpo/model"
import { Effect } from "effect"
import { dpoStep } from "./onnx.bench.ts"
import { gpt2Small, smolLm2 } from "./shapes.ts"

const shapes = { "gpt2-small": gpt2Small, "smollm2-135m": smolLm2 } as const
const [name, threads] = process.argv.slice(2)
const shape = shapes[name as keyof typeof shapes]
if (!shape) throw new Error(`dpo-rss.ts: shape ${name} is not one of ${Object.keys(shapes).join(", ")}`)

const rate = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const sessions = yield* Onnx.OnnxSessions.make({ provider: "cpu", threads: Number(threads ?? "2") })
  const engine = yield* Onnx.OnnxPolicyEngine.make("onnx").pipe(Effect.provideService(Onnx.OnnxSessions.OnnxSessionPool, sessions))
  return yield* dpoStep(engine, shape)
})))
// resourceUsage's maxRSS is in kilobytes (getrusage's ru_maxrss on Linux), as Python's resource module reports it
console.log(JSON.stringify({ ...rate, maxRssMb: process.resourceUsage().maxRSS / 1024 }))
