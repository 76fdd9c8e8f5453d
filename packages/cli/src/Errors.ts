/** One clear line for any failure, and a non-zero exit. */
import { Cause, Effect } from "effect"

const cliTags = new Set([
  "UnrecognizedOption", "DuplicateOption", "MissingOption", "MissingArgument", "UnexpectedArgument",
  "InvalidValue", "UnknownSubcommand", "ValidationError"
])

/** The message a user sees for an error: our tagged errors carry one that names the field or file. */
export const describe = (error: unknown): string => {
  if (error && typeof error === "object") {
    const e = error as { _tag?: string; message?: string }
    if (typeof e.message === "string" && e.message.length > 0) return e.message
    if (e._tag) return e._tag
  }
  return String(error)
}

/** What an interrupted command says (set by the command that knows where it stopped). */
let interruptMessage = "interrupted; `odpo resume <run>` continues a run at its first unfinished stage"
export const noteInterrupt = (message: string): void => {
  interruptMessage = message
}

/**
 * Print failures as `odpo: <message>` on stderr and set exit code 1 (CLI parse errors were already
 * shown). An interrupt (Ctrl-C, SIGTERM) cannot be caught, only observed: it prints its note and
 * the runtime exits 130.
 */
export const reportFailure = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  program.pipe(
    Effect.onInterrupt(() => Effect.sync(() => process.stderr.write(`odpo: ${interruptMessage}\n`))),
    Effect.catchCause((cause) =>
      Effect.sync(() => {
        const failure = cause.reasons.find(Cause.isFailReason)
        const error = failure ? failure.error : cause.reasons.find(Cause.isDieReason)?.defect
        if (Cause.hasInterruptsOnly(cause)) {
          process.stderr.write(`odpo: ${interruptMessage}\n`)
          process.exitCode = 130
          return
        }
        const tag = (error as { _tag?: string } | undefined)?._tag
        if (tag === "ShowHelp") return
        if (!(tag && cliTags.has(tag))) process.stderr.write(`odpo: ${describe(error).split("\n")[0]}\n`)
        process.exitCode = 1
      })
    )
  )
