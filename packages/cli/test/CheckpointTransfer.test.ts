// Checkpoints by content hash: the coordinator's server hands out only what it offered, a worker's
// cache verifies the weights against the name, keeps the most recently used few, and downloads a
// hash once however many shards ask for it at the same time.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeCache, serveCheckpoints } from "../src/CheckpointTransfer.ts"

/** A checkpoint directory `<root>/<sha>` of made-up weights (the transfer never parses them). */
const checkpoint = (root: string, seed: number, damaged = false) => {
  const weights = Buffer.from(`weights ${seed} `.repeat(1000))
  const sha = createHash("sha256").update(weights).digest("hex")
  const dir = join(root, sha)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "model.safetensors"), damaged ? Buffer.concat([weights, Buffer.from("x")]) : weights)
  writeFileSync(join(dir, "config.json"), JSON.stringify({ odpo: { sha256: sha } }))
  writeFileSync(join(dir, "tokenizer.json"), `{"seed":${seed}}`)
  return { id: sha, path: dir }
}

describe("checkpoint transfer", () => {
  it.live("fetched by hash, verified, byte-equal; the cache keeps the 2 most recently used; one download per hash", () =>
    Effect.gen(function*() {
      const root = mkdtempSync(join(tmpdir(), "odpo-ckpt-src-"))
      const server = yield* serveCheckpoints("127.0.0.1")
      const refs = [0, 1, 2].map((s) => checkpoint(root, s))
      for (const r of refs) yield* server.offer(r)
      const cache = makeCache({ dir: mkdtempSync(join(tmpdir(), "odpo-ckpt-cache-")), size: 2, shared: null })
      // Four shards ask for checkpoint 0 at once.
      const paths = yield* Effect.forEach([0, 0, 0, 0], (i) => cache.resolve({ sha256: refs[i]!.id, url: server.url }), { concurrency: "unbounded" })
      assert.strictEqual(new Set(paths).size, 1)
      for (const f of ["model.safetensors", "config.json", "tokenizer.json"]) {
        assert.deepStrictEqual(readFileSync(join(paths[0]!, f)), readFileSync(join(refs[0]!.path, f)), f)
      }
      assert.strictEqual(server.served(), 3, "one download (3 files) for 4 concurrent asks")
      yield* cache.resolve({ sha256: refs[1]!.id, url: server.url })
      yield* Effect.sleep("20 millis")
      yield* cache.resolve({ sha256: refs[0]!.id, url: server.url }) // a hit: 0 becomes the most recent
      yield* Effect.sleep("20 millis")
      yield* cache.resolve({ sha256: refs[2]!.id, url: server.url })
      assert.strictEqual(server.served(), 9)
      assert.deepStrictEqual(readdirSync(join(paths[0]!, "..")).sort(), [refs[0]!.id, refs[2]!.id].sort(), "1, least recently used, evicted")
    }).pipe(Effect.scoped))

  it.live("damaged weights, a hash never offered, and the shared directory", () =>
    Effect.gen(function*() {
      const root = mkdtempSync(join(tmpdir(), "odpo-ckpt-src-"))
      const server = yield* serveCheckpoints("127.0.0.1")
      const bad = checkpoint(root, 7, true)
      yield* server.offer(bad)
      const cache = makeCache({ dir: mkdtempSync(join(tmpdir(), "odpo-ckpt-cache-")), size: 2, shared: null })
      const corrupt = yield* Effect.flip(cache.resolve({ sha256: bad.id, url: server.url }))
      assert.strictEqual(corrupt._tag, "CheckpointCorrupt")
      assert.match(corrupt.message, new RegExp(`^the weights served for checkpoint ${bad.id} hash to [0-9a-f]{64}: the coordinator's copy is damaged`))
      const missing = yield* Effect.flip(cache.resolve({ sha256: "b".repeat(64), url: server.url }))
      assert.strictEqual(missing._tag, "CheckpointNotFound")
      assert.match(missing.message, /cannot fetch config\.json from the coordinator at http:\/\/127\.0\.0\.1:\d+: HTTP 404/)
      // A worker with the shared directory reads it in place: no download.
      const shared = mkdtempSync(join(tmpdir(), "odpo-ckpt-shared-"))
      const ref = checkpoint(shared, 3)
      const before = server.served()
      const sharedCache = makeCache({ dir: mkdtempSync(join(tmpdir(), "odpo-ckpt-cache-")), size: 1, shared })
      assert.strictEqual(yield* sharedCache.resolve({ sha256: ref.id, url: server.url }), ref.path)
      assert.strictEqual(server.served(), before)
      mkdirSync(join(shared, "d".repeat(64)))
      writeFileSync(join(shared, "d".repeat(64), "model.safetensors"), "w")
      writeFileSync(join(shared, "d".repeat(64), "config.json"), JSON.stringify({ odpo: { sha256: ref.id } }))
      const renamed = yield* Effect.flip(sharedCache.resolve({ sha256: "d".repeat(64), url: null }))
      assert.match(renamed.message, new RegExp(`config\\.json names checkpoint ${ref.id}, not d{64}: the shared directory is damaged`))
      const nowhere = yield* Effect.flip(sharedCache.resolve({ sha256: "c".repeat(64), url: null }))
      assert.match(nowhere.message, /not in the shared directory .* and no coordinator URL to fetch it from/)
    }).pipe(Effect.scoped))
})
