/**
 * Crash testing from outside the process: with ODPO_PAUSE_BEFORE_RECORD="<round>:<stage>" a run
 * finishes that stage's work, writes the file named by ODPO_PAUSE_MARKER and waits before
 * recording it, so a test can kill the process mid-stage (work done, nothing committed) and check
 * that `odpo resume` ends with the same rows as an uninterrupted run. Read once, at the edge.
 */
import { Round } from "@odpo/core"
import { Effect, Layer } from "effect"
import { writeFileSync } from "node:fs"

export const layerFromEnv = (env: NodeJS.ProcessEnv = process.env): Layer.Layer<never> => {
  const at = env.ODPO_PAUSE_BEFORE_RECORD
  if (!at) return Layer.empty
  const marker = env.ODPO_PAUSE_MARKER
  return Layer.succeed(Round.BeforeRecord, (round: number, stage: string) =>
    `${round}:${stage}` !== at
      ? Effect.void
      : Effect.sync(() => {
        if (marker) writeFileSync(marker, `${process.pid}\n`)
      }).pipe(Effect.andThen(Effect.never)))
}
