/** One clear line for any failure: exit 2 for a usage error (with a pointer to --help), 1 for anything else. */
import { Cause, Console, Effect, Logger } from "effect"
import { CliOutput } from "effect/cli"

/** The message a user sees for an error: our tagged errors carry one that names the field or file. */
export const describe = (error: unknown): string => {
  if (error && typeof error === "object") {
    const e = error as { _tag?: string; message?: string }
    if (typeof e.message === "string" && e.message.length > 0) return e.message
    if (e._tag) return e._tag
  }
  return String(error)
}

/** Exit status of a command line that does not parse (unknown subcommand, missing or bad flag): as getopt's tools do. */
export const usageExitCode = 2

/**
 * Presents effect/cli's parse errors as one line naming the problem and the command's --help,
 * instead of the whole help page followed by the error. Help and --version print as usual.
 */
export const usagePresenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Console.error(`odpo: ${describe(event.errors[0]).split("\n")[0]} (see \`${event.commandPath.join(" ")} --help\`)`)
      : CliOutput.defaultPresenter.present(event)
})

/**
 * Log lines as a user reads them: the message alone on stderr ("warning: " before a warning),
 * instead of the default logger's "[07:17:07] INFO (#2)" prefix.
 */
export const plainLogger = Logger.layer([
  Logger.make(({ logLevel, message }) => {
    const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
    process.stderr.write(`${logLevel === "Warn" || logLevel === "Error" ? "warning: " : ""}${text}\n`)
  })
])

/**
/** What an interrupted command says (set by the command that knows where it stopped). */
let interruptMessage = "interrupted; `odpo resume <run>` continues a run at its first unfinished stage"
export const noteInterrupt = (message: string): void => {
  interruptMessage = message
}

/**
 * Print failures as `odpo: <message>` on stderr and set the exit code: 2 for a usage error
 * (already printed by usagePresenter), 1 otherwise. An interrupt (Ctrl-C, SIGTERM) cannot be
 * caught, only observed: it prints its note and the runtime exits 130.
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
        const e = error as { _tag?: string; errors?: ReadonlyArray<unknown> } | undefined
        if (e?._tag === "ShowHelp") {
          // Help asked for (or a bare `odpo`) is a success; help shown because of parse errors is not.
          if ((e.errors?.length ?? 0) > 0) process.exitCode = usageExitCode
          return
        }
        process.stderr.write(`odpo: ${describe(error).split("\n")[0]}\n`)
        process.exitCode = 1
      })
    )
  )
