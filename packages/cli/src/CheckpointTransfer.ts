/**
 * Checkpoints by content hash between the coordinator and its workers. The coordinator serves the
 * checkpoints it names in shards (`GET /checkpoints/<sha256>/<file>`, nothing else); a worker
 * reads `<shared>/<sha256>` when it has the shared directory, else downloads the three files,
 * verifies that the weights hash to the name, and keeps the `size` most recently used.
 */
import type { Domain } from "@odpo/core"
import { Errors } from "@odpo/core"
import { Deferred, Effect } from "effect"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"

/** The files of a checkpoint directory (Checkpoint.ts). */
const files = ["config.json", "tokenizer.json", "model.safetensors"] as const
const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** An HTTP server on host (port 0: any free one) handing out the checkpoints offered to it. */
export const serveCheckpoints = (host: string) =>
  Effect.gen(function*() {
    const offered = new Map<string, string>()
    let served = 0
    const server = createServer((req, res) => {
      const m = /^\/checkpoints\/([0-9a-f]{64})\/([a-z.]+)$/.exec(req.url ?? "")
      const dir = m ? offered.get(m[1]!) : undefined
      if (!m || !dir || !(files as ReadonlyArray<string>).includes(m[2]!)) {
        res.writeHead(404).end(`not offered: ${req.url}`)
        return
      }
      try {
        const bytes = readFileSync(join(dir, m[2]!))
        served++
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length }).end(bytes)
      } catch (e) {
        res.writeHead(500).end((e as Error).message)
      }
    })
    const port = yield* Effect.acquireRelease(
      Effect.callback<number, Errors.ConfigError>((resume) => {
        server.once("error", (e) =>
          resume(Effect.fail(new Errors.ConfigError({ message: `--cluster-host ${host}: cannot serve checkpoints there: ${e.message}` }))))
        server.listen(0, host, () => resume(Effect.succeed((server.address() as AddressInfo).port)))
      }),
      () => Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
    )
    return {
      url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
      offer: (ref: Domain.CheckpointRef) => Effect.sync(() => void offered.set(ref.id, ref.path)),
      /** Files served so far (the tests and the bench read it). */
      served: () => served
    }
  })

export interface CacheOptions {
  /** Where downloaded checkpoints are kept. */
  readonly dir: string
  /** How many checkpoints to keep (the least recently used go first). */
  readonly size: number
  /** A directory holding `<sha256>/` checkpoints that the worker can read (the coordinator's checkpoint root, shared). */
  readonly shared: string | null
}

const notFound = (sha: string, message: string) => new Errors.CheckpointNotFound({ path: sha, message: `checkpoint ${sha}: ${message}` })

/** `dir` when its config.json names it `sha` (the sampler then checks the weights against that name as it loads them). */
const namedBy = (dir: string, sha: string) =>
  Effect.try({
    try: () => (JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { odpo?: { sha256?: string } }).odpo?.sha256,
    catch: (e) => new Errors.CheckpointCorrupt({ path: dir, message: `${dir}/config.json: cannot read it: ${(e as Error).message}` })
  }).pipe(Effect.flatMap((named) =>
    named === sha
      ? Effect.succeed(dir)
      : Effect.fail(new Errors.CheckpointCorrupt({ path: dir, message: `${dir}/config.json names checkpoint ${named}, not ${sha}: the shared directory is damaged` }))
  ))

/** The local directory of checkpoint `sha` (verified), downloading it from `url` when needed. */
export const makeCache = (options: CacheOptions) => {
  mkdirSync(options.dir, { recursive: true })
  const touch = (dir: string) => {
    const now = new Date()
    utimesSync(dir, now, now)
    return dir
  }
  const evict = () => {
    const held = readdirSync(options.dir).filter((d) => /^[0-9a-f]{64}$/.test(d)).map((d) => ({ d, t: statSync(join(options.dir, d)).mtimeMs }))
    held.sort((a, b) => b.t - a.t)
    for (const { d } of held.slice(options.size)) rmSync(join(options.dir, d), { recursive: true, force: true })
  }
  const download = (sha: string, url: string) =>
    Effect.gen(function*() {
      const got: Record<string, Uint8Array> = {}
      for (const f of files) {
        got[f] = yield* Effect.tryPromise({
          try: async () => {
            const res = await fetch(`${url}/checkpoints/${sha}/${f}`)
            if (!res.ok) throw new Error(`HTTP ${res.status} ${await res.text()}`)
            return new Uint8Array(await res.arrayBuffer())
          },
          catch: (e) => notFound(sha, `cannot fetch ${f} from the coordinator at ${url}: ${(e as Error).message}`)
        })
      }
      const actual = sha256Hex(got["model.safetensors"]!)
      if (actual !== sha) {
        return yield* new Errors.CheckpointCorrupt({
          path: `${url}/checkpoints/${sha}`,
          message: `the weights served for checkpoint ${sha} hash to ${actual}: the coordinator's copy is damaged (odpo resume there re-creates it)`
        })
      }
      const tmp = join(options.dir, `.${sha}.${process.pid}.tmp`)
      mkdirSync(tmp, { recursive: true })
      for (const f of files) writeFileSync(join(tmp, f), got[f]!)
      // Another download of the same hash may have landed first: keep that one (it is in use).
      if (existsSync(join(options.dir, sha, "model.safetensors"))) rmSync(tmp, { recursive: true, force: true })
      else {
        rmSync(join(options.dir, sha), { recursive: true, force: true })
        renameSync(tmp, join(options.dir, sha))
      }
      evict()
      return join(options.dir, sha)
    })
  // Shards of one stage ask for the same checkpoint at once: one download each, the others wait for it.
  const inflight = new Map<string, Deferred.Deferred<string, Errors.CheckpointNotFound | Errors.CheckpointCorrupt>>()
  const fetchOnce = (sha: string, url: string) =>
    Effect.suspend(() => {
      const running = inflight.get(sha)
      if (running) return Deferred.await(running)
      const deferred = Deferred.makeUnsafe<string, Errors.CheckpointNotFound | Errors.CheckpointCorrupt>()
      inflight.set(sha, deferred)
      return download(sha, url).pipe(
        Effect.exit,
        Effect.tap((exit) => Effect.sync(() => inflight.delete(sha)).pipe(Effect.andThen(Deferred.done(deferred, exit)))),
        Effect.flatten
      )
    })
  return {
    resolve(source: { readonly sha256: string; readonly url: string | null }): Effect.Effect<string, Errors.CheckpointNotFound | Errors.CheckpointCorrupt> {
      const sha = source.sha256
      if (!/^[0-9a-f]{64}$/.test(sha)) return Effect.fail(notFound(sha, "not a SHA-256 checkpoint id"))
      // The sampler verifies the weights against config.json's hash when it loads them; here the name must match too.
      if (options.shared !== null && existsSync(join(options.shared, sha, "model.safetensors"))) return namedBy(join(options.shared, sha), sha)
      const cached = join(options.dir, sha)
      if (existsSync(join(cached, "model.safetensors"))) return Effect.sync(() => touch(cached))
      if (source.url === null) return Effect.fail(notFound(sha, `not in the shared directory ${options.shared} and no coordinator URL to fetch it from`))
      return fetchOnce(sha, source.url)
    }
  }
}
export type CheckpointCache = ReturnType<typeof makeCache>
