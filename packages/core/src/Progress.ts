/** Progress of long stages (sampling, scoring, training, evaluation), shown by the CLI. */
import { Context, Effect } from "effect"

export interface ProgressEvent {
  /** e.g. "round 2 · sample" */
  readonly stage: string
  readonly done: number
  readonly total: number
  /** Unit of `done`, e.g. "samples", "steps". */
  readonly unit: string
  /** Items per second since the stage began. */
  readonly rate: number
  /** Seconds left at that rate. */
  readonly etaSeconds: number
}

export interface ProgressReporter {
  readonly report: (event: ProgressEvent) => Effect.Effect<void>
}

/** Defaults to silence; the CLI provides a terminal progress bar. */
export const Progress = Context.Reference<ProgressReporter>("@odpo/core/Progress", {
  defaultValue: () => ({ report: () => Effect.void })
})

/** A tracker for one stage: call `tick(n)` as work completes; it computes rate and ETA. */
export const tracker = (stage: string, total: number, unit: string) =>
  Effect.gen(function*() {
    const reporter = yield* Progress
    const start = Date.now()
    let done = 0
    let lastReport = 0
    // Every tick first yields to Node's event loop. tfjs's CPU kernels resolve `data()` in a
    // microtask, so a loop of awaited steps would otherwise never return to the loop, where Node
    // delivers SIGINT and SIGTERM: Ctrl-C would go unheard until the stage ended.
    const tick = (n: number): Effect.Effect<void> => Effect.andThen(Effect.yieldNow, report(n))
    const report = (n: number): Effect.Effect<void> => {
      done += n
      const now = Date.now()
      if (done < total && now - lastReport < 200) return Effect.void
      lastReport = now
      const elapsed = Math.max((now - start) / 1000, 1e-3)
      const rate = done / elapsed
      return reporter.report({ stage, done, total, unit, rate, etaSeconds: rate > 0 ? (total - done) / rate : Infinity })
    }
    return { tick }
  })
