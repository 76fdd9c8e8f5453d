/**
 * π₀ made by SFT is a pure function of (model shape, SFT settings, task, seed, engine, build): runs that share
 * them — the online and offline arms of a study — share one π₀ instead of training it again.
 * Entries live beside the checkpoints they name (<root>/sft-cache/<key>.json) and are used only
 * when both checkpoint directories are still there; loading re-verifies their SHA-256 as always.
 */
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { StoreError } from "../Errors.ts"

/** Bump when the key's inputs change meaning. 2: the engine always, and the code build, are inputs. */
const VERSION = 2

export interface SftCacheEntry {
  readonly init: string
  readonly pi0: string
}

export const sftCacheKey = (inputs: unknown): string =>
  createHash("sha256").update(JSON.stringify({ version: VERSION, inputs })).digest("hex").slice(0, 32)

const file = (root: string, key: string) => join(root, "sft-cache", `${key}.json`)

/** The cached π₀ of `key`, or null when there is none (or its checkpoints are gone); an unreadable entry counts as none. */
export const readSftCache = (root: string, key: string): Effect.Effect<SftCacheEntry | null> =>
  Effect.sync(() => {
    const f = file(root, key)
    if (!existsSync(f)) return null
    try {
      const entry = JSON.parse(readFileSync(f, "utf8")) as SftCacheEntry
      return existsSync(join(root, entry.init)) && existsSync(join(root, entry.pi0)) ? entry : null
    } catch {
      return null
    }
  })

/** Remember π₀ for `key` (written to a temp file, then renamed: readers never see half an entry). */
export const writeSftCache = (root: string, key: string, entry: SftCacheEntry): Effect.Effect<void, StoreError> =>
  Effect.try({
    try: () => {
      mkdirSync(join(root, "sft-cache"), { recursive: true })
      const tmp = `${file(root, key)}.${process.pid}.tmp`
      writeFileSync(tmp, JSON.stringify(entry) + "\n")
      renameSync(tmp, file(root, key))
    },
    catch: (cause) => new StoreError({ message: `cannot write the SFT cache entry ${file(root, key)}: ${String(cause)}; check that ${root} is writable`, cause })
  })
