/**
 * Paths the run store records (checkpoints.path, a run's checkpointRoot) are relative to the
 * database's folder when they lie under it, so that the folder can be moved or copied whole: a
 * copied database reads its own folder's weights, never the original's. Paths elsewhere stay absolute.
 */
import { isAbsolute, relative, resolve } from "node:path"

/** `path` as the store records it: relative to `dir` when under it ("." for `dir` itself), else absolute. */
export const storedPath = (dir: string, path: string): string => {
  const abs = resolve(path)
  const rel = relative(dir, abs)
  if (rel === "") return "."
  return rel.startsWith("..") || isAbsolute(rel) ? abs : rel
}

/** A recorded path as a path on this machine: a relative one is taken from `dir`. */
export const resolvedPath = (dir: string, path: string): string => (isAbsolute(path) ? path : resolve(dir, path))
