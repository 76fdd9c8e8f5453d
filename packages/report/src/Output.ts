/** Where reports and exports go: checked before any work (a clear error, not a stack trace at the end), parents created. */
import { Effect } from "effect"
import { accessSync, constants, existsSync, mkdirSync, statSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { OutputNotWritable } from "./Errors.ts"

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** The nearest path at or above `path` that exists. */
const nearestExisting = (path: string): string => {
  let p = resolve(path)
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p)
  return p
}

/**
 * Fails unless `path` can become a directory we write into (it is one and is writable, or its
 * nearest existing ancestor is a writable directory). Permission bits do not stop root, but a
 * file in the way does, and so does a read-only file system — the real write reports those.
 */
const checkDirectory = (path: string, what: string, flag: string) =>
  Effect.try({
    try: () => {
      const at = nearestExisting(path)
      if (!statSync(at).isDirectory()) throw new Error(`${at} is a file, not a directory`)
      accessSync(at, constants.W_OK)
    },
    catch: (e) => new OutputNotWritable({ path, message: `cannot write ${what} ${path}: ${reason(e)}; choose a writable ${flag}`, cause: e })
  })

/** `--out report.html`: a file that is not a directory, in a directory we can write (created if missing). */
export const checkFile = (file: string, flag = "--out") =>
  Effect.gen(function*() {
    if (existsSync(file) && statSync(file).isDirectory()) {
      return yield* new OutputNotWritable({ path: file, message: `cannot write the report to ${file}: it is a directory; choose a file name for ${flag}, e.g. ${file}/report.html` })
    }
    if (existsSync(file)) {
      yield* Effect.try({
        try: () => accessSync(file, constants.W_OK),
        catch: (e) => new OutputNotWritable({ path: file, message: `cannot write the report to ${file}: ${reason(e)}; choose a writable ${flag}`, cause: e })
      })
    }
    yield* checkDirectory(dirname(resolve(file)), "the report into", flag)
  })

/** `--out DIR` of an export: a directory we can write (created if missing). */
export const checkDirectoryOut = (dir: string, flag = "--out") => checkDirectory(dir, "the export into", flag)

export const makeDirectory = (dir: string, flag = "--out") =>
  Effect.try({
    try: () => void mkdirSync(dir, { recursive: true }),
    catch: (e) => new OutputNotWritable({ path: dir, message: `cannot create the directory ${dir}: ${reason(e)}; choose a writable ${flag}`, cause: e })
  })

export const writeFile = (file: string, text: string, flag = "--out") =>
  Effect.andThen(
    makeDirectory(dirname(resolve(file)), flag),
    Effect.try({
      try: () => writeFileSync(file, text),
      catch: (e) => new OutputNotWritable({ path: file, message: `cannot write the report to ${file}: ${reason(e)}; choose a writable ${flag}`, cause: e })
    })
  )
