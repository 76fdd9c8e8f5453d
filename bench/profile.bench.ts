/** `pnpm bench profile`: the DPO step's per-part breakdown on the onnx engine at both bench shapes (bench/profile.ts; ODPO_PROFILE_SHAPE=reference: that one only). */
import { profileDpoStep } from "./profile.ts"
import type { BenchFigure } from "./run.ts"
import { gpt2Small, reference } from "./shapes.ts"

export default async (): Promise<ReadonlyArray<BenchFigure>> => [
  ...(await profileDpoStep(reference)),
  ...(process.env["ODPO_PROFILE_SHAPE"] === "reference" ? [] : await profileDpoStep(gpt2Small))
]
