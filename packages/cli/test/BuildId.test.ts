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
    assert.strictEqual(buildId(), `${odpoVersion}+source`)
  })
})
