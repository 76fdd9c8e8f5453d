/**
 * Crash testing: with ODPO_PAUSE_BEFORE_RECORD="<round>:<stage>" the run finishes that stage's
 * work, writes the file named by ODPO_PAUSE_MARKER, and waits before recording it, so a test can
 * kill the process mid-stage (work done, nothing committed) and check that `odpo resume` ends
 * with the same rows as an uninterrupted run. Without the variable this is a no-op.
 */
import { Effect } from "effect"
import { writeFileSync } from "node:fs"

export const pauseBeforeRecord = (round: number, stage: string): Effect.Effect<void> => {
  const at = process.env.ODPO_PAUSE_BEFORE_RECORD
  if (at !== `${round}:${stage}`) return Effect.void
  return Effect.sync(() => {
    const marker = process.env.ODPO_PAUSE_MARKER
    if (marker) writeFileSync(marker, `${process.pid}\n`)
  }).pipe(Effect.andThen(Effect.never))
}
