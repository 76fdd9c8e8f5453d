/**
 * A results archive: a run store compressed with gzip (`X.duckdb.gz`). A finished study's
 * database is mostly empty blocks (a 2 MB file gzips to 0.1–0.4 MB), so the studies commit their
 * results this way. odpo reads an archive as it reads a database — every read command, every view
 * — from a private decompressed copy that it brings up to the current schema and deletes when done;
 * it never writes into the archive.
 */
import { Effect, type Scope } from "effect"
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { pipeline } from "node:stream/promises"
import { createGunzip, createGzip, constants } from "node:zlib"
import { StoreError } from "../../Errors.ts"

/** Whether `file` names a results archive rather than a database. */
export const isArchive = (file: string): boolean => file.endsWith(".gz")

/** The one message for anything that would write into an archive. */
export const archiveWriteMessage = (file: string): string =>
  `${file} is a compressed results archive: odpo reads it but writes nothing into it. ` +
  `To add runs to it, decompress a copy (\`gunzip -k ${file}\`) and give --db ${file.replace(/\.gz$/, "")}`

/**
 * The archive decompressed into a private temporary folder; the folder is removed when the scope
 * closes. A file that is not gzip (or cut short) is a StoreError naming it.
 */
export const openArchive = (file: string): Effect.Effect<string, StoreError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const dir = mkdtempSync(join(tmpdir(), "odpo-archive-"))
        const copy = join(dir, basename(file).replace(/\.gz$/, "") || "archive.duckdb")
        try {
          await pipeline(createReadStream(file), createGunzip(), createWriteStream(copy))
        } catch (cause) {
          rmSync(dir, { recursive: true, force: true })
          throw cause
        }
        return copy
      },
      catch: (cause) =>
        new StoreError({
          message: `cannot read the results archive ${file}: ${cause instanceof Error ? cause.message : String(cause)} ` +
            `(an archive is a run store compressed with \`gzip -9n\`; restore it from a copy)`,
          cause
        })
    }),
    (copy) => Effect.sync(() => rmSync(join(copy, ".."), { recursive: true, force: true }))
  )

/**
 * Compress a database into an archive, byte-for-byte reproducible (no name or time in the gzip
 * header, level 9), as `gzip -9n` does.
 */
export const writeArchive = (database: string, archive: string): Promise<void> =>
  pipeline(createReadStream(database), createGzip({ level: constants.Z_BEST_COMPRESSION }), createWriteStream(archive))
