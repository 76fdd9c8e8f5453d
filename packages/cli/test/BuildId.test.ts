import { assert, describe, it } from "@effect/vitest"
import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { buildId } from "../src/BuildId.ts"
import { odpoVersion } from "../src/Version.ts"

/** A bundle directory as build.mjs writes one: odpo.mjs and content-hashed chunks. */
const bundle = (entry: string, chunks: ReadonlyArray<string>) => {
  const dir = mkdtempSync(join(tmpdir(), "odpo-build-"))
  mkdirSync(join(dir, "chunks"))
  writeFileSync(join(dir, "odpo.mjs"), entry)
  for (const c of chunks) writeFileSync(join(dir, "chunks", c), "")
  return dir
}
const idOf = (dir: string, inChunk = true) => buildId(pathToFileURL(join(dir, inChunk ? "chunks/Version-AAAA.mjs" : "odpo.mjs")).href)

describe("buildId", () => {
  it("two builds of the same sources agree; a changed chunk or entry tells them apart; the sources say so", () => {
    const a = bundle("import './chunks/run-AB12.mjs'", ["run-AB12.mjs", "model-CD34.mjs"])
    const b = bundle("import './chunks/run-AB12.mjs'", ["model-CD34.mjs", "run-AB12.mjs"])
    assert.match(idOf(a), new RegExp(`^${odpoVersion.replace(/\./g, "\\.")}\\+[0-9a-f]{12}$`))
    assert.strictEqual(idOf(a), idOf(b))
    assert.strictEqual(idOf(a), idOf(a, false), "from the entry's own directory too")
    renameSync(join(b, "chunks", "model-CD34.mjs"), join(b, "chunks", "model-EF56.mjs"))
    assert.notStrictEqual(idOf(a), idOf(b))
    const c = bundle("import './chunks/run-AB13.mjs'", ["run-AB12.mjs", "model-CD34.mjs"])
    assert.notStrictEqual(idOf(a), idOf(c))
  })

  it("run from the sources, a hash of packages/<name>/src: stable, and changed by any edit to a source file", () => {
    const packages = mkdtempSync(join(tmpdir(), "odpo-src-"))
    for (const d of ["cli/src", "core/src/tasks", "core/test"]) mkdirSync(join(packages, d), { recursive: true })
    writeFileSync(join(packages, "cli/src/BuildId.ts"), "")
    writeFileSync(join(packages, "core/src/tasks/bandit.ts"), "export const k = 1")
    writeFileSync(join(packages, "core/test/x.test.ts"), "a test")
    const from = (moduleDir: string) => buildId(pathToFileURL(join(moduleDir, "BuildId.ts")).href)
    const here = join(packages, "cli/src")
    const first = from(here)
    assert.match(first, new RegExp(`^${odpoVersion.replace(/\./g, "\\.")}\\+src\\.[0-9a-f]{12}$`))
    assert.strictEqual(from(here), first)
    writeFileSync(join(packages, "core/test/x.test.ts"), "another test")
    assert.strictEqual(from(here), first, "tests are not the build")
    writeFileSync(join(packages, "core/src/tasks/bandit.ts"), "export const k = 2")
    assert.notStrictEqual(from(here), first)
    assert.match(buildId(), /\+src\.[0-9a-f]{12}$/, "this checkout's own sources")
    assert.strictEqual(buildId(pathToFileURL(join(mkdtempSync(join(tmpdir(), "odpo-none-")), "a", "b", "BuildId.ts")).href), `${odpoVersion}+source`)
  })
})
