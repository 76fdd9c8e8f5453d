/**
 * Run store write throughput: 20,000 rollouts of 32 tokens through DuckDB's appender vs the same
 * rows through a prepared INSERT, each in one transaction; plus the whole recordStage path
 * (appender into a staging table, then the idempotent merge) that the round loop uses.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { RunStore } from "@odpo/core"
import type { Bench } from "./run.ts"
// The workspace root depends on the same versions as core: pnpm links one copy, so these are the
// module instances core's code uses (and the CLI bundle keeps @duckdb/node-api external by name).
import { type DuckDBConnection, DuckDBDataChunkWriter, DuckDBInstance, jsToDuckDBValue, JSToDuckDBValueConverter } from "@duckdb/node-api"
import { Effect } from "effect"


const N = 20_000
const T = 32

type RolloutWrite = RunStore.RolloutWrite

const makeRollouts = (): Array<RolloutWrite> =>
  Array.from({ length: N }, (_, i) => {
    const tokenIds = Array.from({ length: T }, (_, t) => (i * 31 + t * 7) % 100)
    const tokenLogprobs = tokenIds.map((t) => -0.01 * (t + 1))
    return {
      rolloutId: `r${i}`, runId: "bench", round: 1, purpose: "train", promptId: `p${i % 1000}`, sampleIdx: Math.floor(i / 1000),
      policyCkpt: "ck", tokenIds, tokenLogprobs, logprobSum: tokenLogprobs.reduce((a, b) => a + b, 0), length: T,
      finishReason: "length", text: tokenIds.join(" "), seed: i,
      params: { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, maxNewTokens: T, stop: [] }
    }
  })

const values = (r: RolloutWrite): Array<unknown> => [
  r.rolloutId, r.runId, r.round, r.purpose, r.promptId, r.sampleIdx, r.policyCkpt, r.tokenIds, r.tokenLogprobs, r.logprobSum,
  r.length, r.finishReason, r.params.temperature, r.params.topK, r.params.topP, r.params.minP, r.params.repetitionPenalty,
  r.params.maxNewTokens, r.params.stop, r.seed, r.text
]

/** A fresh database file at the store's schema (the RunStore layer migrates it on its first write); its connection and a closer. */
const fresh = async (dir: string, name: string) => {
  const file = join(dir, name)
  await Effect.runPromise(Effect.provide(Effect.flatMap(RunStore.RunStore, (s) => s.setRunEngine("none", "none", "none")), RunStore.RunStore.layer(file)))
  const db = await DuckDBInstance.create(file)
  const conn = await db.connect()
  return { file, conn, close: () => (conn.closeSync(), db.closeSync()) }
}

const timed = async (f: () => Promise<void>) => {
  const t0 = performance.now()
  await f()
  return (performance.now() - t0) / 1000
}

const viaAppender = async (conn: DuckDBConnection, rows: Array<RolloutWrite>) => {
  await conn.run("BEGIN TRANSACTION")
  const appender = await conn.createAppender("rollouts")
  const writer = DuckDBDataChunkWriter.forAppender(appender, { converter: JSToDuckDBValueConverter })
  for (const r of rows) writer.appendRow(values(r) as Array<never>)
  writer.flush()
  appender.closeSync()
  await conn.run("COMMIT")
}

const viaPrepared = async (conn: DuckDBConnection, rows: Array<RolloutWrite>) => {
  await conn.run("BEGIN TRANSACTION")
  const stmt = await conn.prepare(`INSERT INTO rollouts VALUES (${Array.from({ length: 21 }, (_, i) => `$${i + 1}`).join(", ")})`)
  const types = Array.from({ length: 21 }, (_, i) => stmt.parameterType(i + 1))
  for (const r of rows) {
    values(r).forEach((v, i) => stmt.bindValue(i + 1, jsToDuckDBValue(v as never, types[i]), types[i]))
    await stmt.run()
  }
  stmt.destroySync()
  await conn.run("COMMIT")
}

const bench: Bench = async () => {
  const dir = mkdtempSync(join(tmpdir(), "odpo-store-bench-"))
  try {
    const rows = makeRollouts()
    const a = await fresh(dir, "appender.duckdb")
    const tAppender = await timed(() => viaAppender(a.conn, rows))
    const countA = Number((await a.conn.runAndReadAll("SELECT count(*) FROM rollouts")).getRows()[0][0])
    a.close()
    const p = await fresh(dir, "prepared.duckdb")
    const tPrepared = await timed(() => viaPrepared(p.conn, rows))
    const countP = Number((await p.conn.runAndReadAll("SELECT count(*) FROM rollouts")).getRows()[0][0])
    p.close()
    if (countA !== N || countP !== N) throw new Error(`bench wrote ${countA} / ${countP} rows, expected ${N}`)
    const storeFile = join(dir, "store.duckdb")
    const tStage = await timed(() =>
      Effect.runPromise(
        Effect.gen(function*() {
          const store = yield* RunStore.RunStore
          yield* store.recordStage({ runId: "bench", round: 1, stage: "rollouts", rollouts: rows })
        }).pipe(Effect.provide(RunStore.RunStore.layer(storeFile)))
      ))
    return [
      { name: "appender", value: N / tAppender, unit: "rollouts/s", note: `${N} rollouts × ${T} tokens, one transaction` },
      { name: "prepared INSERT", value: N / tPrepared, unit: "rollouts/s", note: "same rows, one bound statement per row, one transaction" },
      { name: "appender / prepared", value: tPrepared / tAppender, unit: "×" },
      { name: "recordStage", value: N / tStage, unit: "rollouts/s", note: "open + staging appender + idempotent merge + commit + close" },
      { name: "recordStage / prepared", value: tPrepared / tStage, unit: "×" }
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export default bench
