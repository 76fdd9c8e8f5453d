/**
 * A command started through launchers (`npx → pnpm → sh → node`) must not outlive them: `kill -9`
 * of the process a user sees reaches no child, and the worker would finish the run alone, writing.
 * So the worker watches the launcher processes above it and, when one disappears, interrupts itself
 * as Ctrl-C would (the stage in progress is not recorded; `odpo resume` continues there).
 * Linux only (/proc); elsewhere signals are all there is.
 */
import { readFileSync } from "node:fs"

interface Proc {
  readonly pid: number
  readonly ppid: number
  /** Start time in clock ticks since boot: a reused pid has another. */
  readonly start: string
  readonly state: string
}

const readProc = (pid: number): Proc | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return { pid, state: fields[0]!, ppid: Number(fields[1]), start: fields[19]! }
  } catch {
    return undefined
  }
}

const commandLine = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")
  } catch {
    return ""
  }
}

/** A process that only exists to start odpo: npx/npm, pnpm, the shell pnpm runs scripts in, tsx. */
const LAUNCHER = /(^|[\s/])(npx|npm|npm-cli\.js|pnpm|pnpm\.c?js|tsx)(\s|$)|\bnpm exec\b|\bpnpm@|\bodpo(\.js)?\b/

/** The launchers above this process, nearest first; stops at the first process that is not one (a shell, init). */
export const launchers = (self = process.pid): Array<Proc> => {
  const out: Array<Proc> = []
  let p = readProc(self)
  while (p && p.ppid > 1) {
    const parent = readProc(p.ppid)
    if (!parent || !LAUNCHER.test(commandLine(parent.pid))) break
    out.push(parent)
    p = parent
  }
  return out
}

const gone = (p: Proc): boolean => {
  const now = readProc(p.pid)
  return now === undefined || now.start !== p.start || now.state === "Z" || now.state === "X"
}

/**
 * Watch the launchers; when one is gone, send this process `signal` (SIGTERM: the runtime
 * interrupts the command, which reports where it stopped and exits 130). The timer never keeps
 * the process alive.
 */
export const exitWithLaunchers = (intervalMs = 250, signal: NodeJS.Signals = "SIGTERM"): void => {
  if (process.platform !== "linux") return
  const watched = launchers()
  if (watched.length === 0) return
  const timer = setInterval(() => {
    const dead = watched.find(gone)
    if (!dead) return
    clearInterval(timer)
    process.stderr.write(`odpo: the launcher that started this command (pid ${dead.pid}) is gone; stopping\n`)
    process.kill(process.pid, signal)
  }, intervalMs)
  timer.unref()
}
