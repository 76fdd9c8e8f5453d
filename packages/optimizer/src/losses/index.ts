/** The loss table: a loss is chosen by name from a plain record, never by an if-chain. */
import type { RunConfig } from "@odpo/core"
import { hinge } from "./hinge.ts"
import { ipo } from "./ipo.ts"
import type { PairLossFn } from "./Loss.ts"
import { rdpo } from "./rdpo.ts"
import { robust } from "./robust.ts"
import { sft } from "./sft.ts"
import { sigmoid } from "./sigmoid.ts"
import { simpo } from "./simpo.ts"

export type PairLossName = Exclude<RunConfig.LossName, "kto">

/** Every pairwise loss; `kto` is unpaired and lives in kto.ts. */
export const pairLosses: Record<PairLossName, PairLossFn> = { sigmoid, ipo, hinge, robust, simpo, rdpo, sft }

export * from "./Loss.ts"
export { kto, type KtoLogps, type KtoLoss } from "./kto.ts"
