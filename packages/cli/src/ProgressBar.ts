/** The terminal reporter for core's Progress: one updating line on a TTY, periodic lines otherwise. */
import { Effect, Layer } from "effect"
import { Progress } from "@odpo/core"

const eta = (s: number) => (!Number.isFinite(s) ? "?" : s >= 120 ? `${Math.round(s / 60)}m` : `${Math.round(s)}s`)

/** Items per second at three significant digits: 0.52/s, 12.3/s, 642/s, 64.0k/s. */
export const formatRate = (r: number): string =>
  !Number.isFinite(r) ? "?" : r >= 1e6 ? `${(r / 1e6).toPrecision(3)}M` : r >= 1e3 ? `${(r / 1e3).toPrecision(3)}k` : r >= 1 ? r.toPrecision(3) : r.toFixed(2)

export const terminalProgress = (stream: NodeJS.WriteStream = process.stderr): Progress.ProgressReporter => {
  const tty = stream.isTTY === true
  let lastLine = 0
  return {
    report: (e) =>
      Effect.sync(() => {
        const width = 24
        const frac = e.total > 0 ? Math.min(1, e.done / e.total) : 1
        const bar = "█".repeat(Math.round(frac * width)).padEnd(width, "░")
        const text = `${e.stage.padEnd(26)} ${bar} ${e.done}/${e.total} ${e.unit}  ${formatRate(e.rate)}/s  ETA ${eta(e.etaSeconds)}`
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
