/**
 * Which build of odpo this process runs, for the cluster's check that a worker and its
 * coordinator are the same code: the version, and — run from the bundle (packages/cli/dist, or a
 * GPU pack) — a hash of the entry file and the chunk names, which carry their content's hash. So
 * two builds of the same sources agree, on any machine, and any source change tells them apart.
 * Run from the sources (tsx) it is `<version>+source`.
 */
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { odpoVersion } from "./Version.ts"

export const buildId = (moduleUrl: string = import.meta.url): string => {
  const here = dirname(fileURLToPath(moduleUrl))
  const root = [here, join(here, "..")].find((d) => existsSync(join(d, "odpo.mjs")))
  if (root === undefined) return `${odpoVersion}+source`
  const hash = createHash("sha256").update(readFileSync(join(root, "odpo.mjs")))
  const chunks = join(root, "chunks")
  if (existsSync(chunks)) for (const name of readdirSync(chunks).sort()) hash.update(`\0${name}`)
  return `${odpoVersion}+${hash.digest("hex").slice(0, 12)}`
}
