/** Learning rate per optimizer step: linear warm-up, then constant, linear or cosine decay to 0. */
export interface ScheduleOptions {
  readonly learningRate: number
  readonly warmupSteps: number
  readonly schedule: "constant" | "linear" | "cosine"
}

/** Step s (0-based) of `total`: warm-up reaches the peak at step warmupSteps − 1. */
export const learningRateAt = (s: number, total: number, o: ScheduleOptions): number => {
  if (s < o.warmupSteps) return (o.learningRate * (s + 1)) / o.warmupSteps
  const span = Math.max(1, total - o.warmupSteps)
  const progress = Math.min(1, (s - o.warmupSteps) / span)
  return o.learningRate * decay[o.schedule](progress)
}

/** Multiplier at `progress` ∈ [0, 1) of the decay phase. */
const decay: Record<ScheduleOptions["schedule"], (p: number) => number> = {
  constant: () => 1,
  linear: (p) => 1 - p,
  cosine: (p) => 0.5 * (1 + Math.cos(Math.PI * p))
}
