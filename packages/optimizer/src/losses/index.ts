/** The loss table: a loss is chosen by name from a plain record, never by an if-chain. */
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

/** Every pairwise loss; `kto` is unpaired and lives in kto.ts. */
export const pairLosses: Record<PairLossName, PairLossFn> = { sigmoid, ipo, hinge, robust, simpo, rdpo, sft }

/** The policy-gradient objectives: sampled completions with advantages, no pairs. */
export const policyGradientLosses: Record<RunConfig.PolicyGradientName, PolicyGradientLossFn> = { rloo, ppo_clip: ppoClip }

export * from "./Loss.ts"
export { kto, type KtoLogps, type KtoLoss } from "./kto.ts"
export * from "./PolicyGradient.ts"
export { type Advantage, leaveOneOutAdvantages, type ScoredSample } from "./leaveOneOut.ts"
