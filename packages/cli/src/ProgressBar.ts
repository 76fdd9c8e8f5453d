/** The terminal reporter for core's Progress: one updating line on a TTY, periodic lines otherwise. */
import { Effect, Layer } from "effect"
import { Progress } from "@odpo/core"

const eta = (s: number) => (!Number.isFinite(s) ? "?" : s >= 120 ? `${Math.round(s / 60)}m` : `${Math.round(s)}s`)

export const terminalProgress = (stream: NodeJS.WriteStream = process.stderr): Progress.ProgressReporter => {
  const tty = stream.isTTY === true
  let lastLine = 0
  return {
    report: (e) =>
      Effect.sync(() => {
        const width = 24
        const frac = e.total > 0 ? Math.min(1, e.done / e.total) : 1
        const bar = "█".repeat(Math.round(frac * width)).padEnd(width, "░")
        const text = `${e.stage.padEnd(26)} ${bar} ${e.done}/${e.total} ${e.unit}  ${e.rate.toFixed(1)}/s  ETA ${eta(e.etaSeconds)}`
        const finished = e.done >= e.total
        if (tty) stream.write(`\r\x1b[2K${text}${finished ? "\n" : ""}`)
        else if (finished || Date.now() - lastLine > 10_000) {
          lastLine = Date.now()
          stream.write(text + "\n")
        }
      })
  }
}

export const layerTerminal = Layer.succeed(Progress.Progress, terminalProgress())
