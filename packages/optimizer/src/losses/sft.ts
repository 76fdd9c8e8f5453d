/** RAFT / SFT on the chosen (Dong et al. 2023): −log π(y_w|x) / |y_w|; rejected and reference only feed the logged rewards. */
import { chosenNll, implicitRewards, type PairLossFn } from "./Loss.ts"

export const sft: PairLossFn = (x, { beta }) => ({ losses: chosenNll(x), ...implicitRewards(x, beta) })
