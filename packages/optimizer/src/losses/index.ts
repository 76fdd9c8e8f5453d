/** The loss functions: pure functions of log-probs, one module each (the objective table is objectives/index.ts). */
export * from "./Loss.ts"
export { hinge } from "./hinge.ts"
export { ipo } from "./ipo.ts"
export { kto, type KtoLogps, type KtoLoss } from "./kto.ts"
export * from "./PolicyGradient.ts"
export { ppoClip } from "./ppoClip.ts"
export { rdpo } from "./rdpo.ts"
export { rloo } from "./rloo.ts"
export { robust } from "./robust.ts"
export { sft } from "./sft.ts"
export { sigmoid } from "./sigmoid.ts"
export { simpo } from "./simpo.ts"

import type { RunConfig } from "@odpo/core"
import { hinge } from "./hinge.ts"
import { ipo } from "./ipo.ts"
import type { PairLossFn } from "./Loss.ts"
import type { PolicyGradientLossFn } from "./PolicyGradient.ts"
import { ppoClip } from "./ppoClip.ts"
import { rdpo } from "./rdpo.ts"
import { rloo } from "./rloo.ts"
import { robust } from "./robust.ts"
import { sft } from "./sft.ts"
import { sigmoid } from "./sigmoid.ts"
import { simpo } from "./simpo.ts"

export type PairLossName = Exclude<RunConfig.PreferenceLossName, "kto">

/** Every pairwise loss by name (the tests walk it; training looks losses up in objectives/index.ts). */
export const pairLosses: Record<PairLossName, PairLossFn> = { sigmoid, ipo, hinge, robust, simpo, rdpo, sft }

/** The policy-gradient losses by name: sampled completions with advantages, no pairs. */
export const policyGradientLosses: Record<RunConfig.PolicyGradientName, PolicyGradientLossFn> = { rloo, ppo_clip: ppoClip }
