/**
 * One process at a time works on a run. The process that runs or resumes it holds a lock file
 * beside the database (`.<db>.running-<run id>`, holding its pid and start time), removed on every
 * exit; a process killed with -9 leaves one whose pid is gone (or reused: the start time differs),
 * and the next resume takes it over.
 */
import { Effect } from "effect"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { RunInProgress, StoreError } from "../Errors.ts"

/** The process's start time in clock ticks since boot (Linux), or "" where /proc is not there. */
const startTime = (pid: number): string => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return fields[0] === "Z" || fields[0] === "X" ? "dead" : fields[19]!
  } catch {
    return ""
  }
}

const alive = (pid: number, start: string) => {
  try {
    process.kill(pid, 0)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  const now = startTime(pid)
  return now !== "dead" && (start === "" || now === "" || now === start)
}

export const lockFile = (dbFile: string, runId: string) =>
  join(dirname(dbFile), `.${basename(dbFile)}.running-${runId.replace(/[^\w.-]/g, "_")}`)

/** Hold the run's lock for the scope; RunInProgress when a live process holds it. */
export const holdRunLock = (dbFile: string, runId: string) => {
  const file = lockFile(dbFile, runId)
  const mine = JSON.stringify({ pid: process.pid, start: startTime(process.pid) })
  const take = Effect.gen(function*() {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(file, mine, { flag: "wx" })
        return
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") {
          return yield* new StoreError({ message: `cannot write the run lock ${file}: ${(e as Error).message}; check that ${dirname(file)} is writable`, cause: e })
        }
      }
      let held: { pid: number; start: string } | undefined
      try {
        held = JSON.parse(readFileSync(file, "utf8"))
      } catch {
        held = undefined // half written by a process killed at that moment: stale
      }
      if (held && alive(held.pid, held.start)) {
        return yield* new RunInProgress({
          runId, pid: held.pid,
          message: `run ${runId} is still running in process ${held.pid}: two processes would compute the same stages. ` +
            `Wait for it to finish, or stop it (Ctrl-C there, or kill ${held.pid}) and resume then`
        })
      }
      rmSync(file, { force: true }) // stale: its process is gone
    }
    return yield* new StoreError({ message: `cannot take the run lock ${file}: another process keeps taking it` })
  })
  return Effect.acquireRelease(take, () => Effect.sync(() => rmSync(file, { force: true })))
}
