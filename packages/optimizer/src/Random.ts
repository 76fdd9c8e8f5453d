/** Seeded randomness for training (shuffles, batch draws, dropout seeds): core's Seeds. */
import { Seeds } from "@odpo/core"

export const { mulberry32, deriveSeed, shuffled } = Seeds
