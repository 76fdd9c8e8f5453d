/**
 * Which build of odpo this process runs: for the cluster's check that a worker and its
 * coordinator are the same code, for runs.code_version and for the SFT cache's key (a π₀ is
 * reused only by the code that trained it). The version, and — run from the bundle
 * (packages/cli/dist, or a GPU pack) — a hash of the entry file and the chunk names, which carry
 * their content's hash. So two builds of the same sources agree, on any machine, and any source
 * change tells them apart. Run from the sources (tsx, vitest) it is `<version>+src.<hash>`, a hash
 * of every file under packages/<name>/src; `<version>+source` where those cannot be found.
 */
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { odpoVersion } from "./Version.ts"

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [])

/** packages/<name>/src/**, each file's path (relative to packages/, "/"-separated) and content. */
const sourcesHash = (packages: string): string => {
  const hash = createHash("sha256")
  const files = readdirSync(packages).flatMap((p) => existsSync(join(packages, p, "src")) ? filesUnder(join(packages, p, "src")) : [])
  for (const f of files.map((f) => relative(packages, f).split("\\").join("/")).sort()) {
    hash.update(`\0${f}\0`).update(readFileSync(join(packages, f)))
  }
  return hash.digest("hex").slice(0, 12)
}

let own: string | undefined

/** This process's build (computed once: the sources do not change under a running process), or that of the module at `moduleUrl`. */
export const buildId = (moduleUrl?: string): string =>
  moduleUrl !== undefined ? computeBuildId(dirname(fileURLToPath(moduleUrl))) : (own ??= computeBuildId(dirname(fileURLToPath(import.meta.url))))

const computeBuildId = (here: string): string => {
  const root = [here, join(here, "..")].find((d) => existsSync(join(d, "odpo.mjs")))
  if (root === undefined) {
    // packages/cli/src/BuildId.ts → packages/
    const packages = join(here, "..", "..")
    return existsSync(join(packages, "core", "src")) ? `${odpoVersion}+src.${sourcesHash(packages)}` : `${odpoVersion}+source`
  }
  const hash = createHash("sha256").update(readFileSync(join(root, "odpo.mjs")))
  const chunks = join(root, "chunks")
  if (existsSync(chunks)) for (const name of readdirSync(chunks).sort()) hash.update(`\0${name}`)
  return `${odpoVersion}+${hash.digest("hex").slice(0, 12)}`
}
