/** Opening the run store's DuckDB file: lock retry with backoff, one open at a time per process, close on every exit. */
import type { DuckDBConnection, DuckDBInstance, DuckDBResultReader, DuckDBValue } from "@duckdb/node-api"
import { duckdb } from "./duckdb.ts"
import { Clock, Effect, Result, Semaphore } from "effect"
import type { Scope } from "effect"
import { resolve } from "node:path"
import { StoreError, StoreLocked } from "../../Errors.ts"

/** "read" opens the file READ_ONLY (several readers may share it); "write" takes DuckDB's exclusive lock. */
export type Access = "read" | "write"

const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

// DuckDB: 'IO Error: Could not set lock on file "x": Conflicting lock is held in /usr/bin/node (PID 7506). …'
const isLockError = (message: string) => /Could not set lock on file|Conflicting lock/.test(message)

/** The process DuckDB says holds the file, e.g. "/usr/bin/node (PID 7506)". */
export const lockHolder = (message: string): string =>
  message.match(/held in (.+?\(PID \d+\))/)?.[1] ?? message.match(/PID \d+/)?.[0] ?? "another process"

// DuckDB's file lock is a per-process (fcntl) lock: two instances of one file inside this process
// would not exclude each other and could both write. So calls for the same file take turns here.
const turns = new Map<string, Semaphore.Semaphore>()
export const inTurn = (file: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const key = resolve(file)
  let turn = turns.get(key)
  if (turn === undefined) {
    turn = Semaphore.makeUnsafe(1)
    turns.set(key, turn)
  }
  return turn.withPermit(self)
}

/**
 * Open the file, retrying while another process holds its lock: backoff 20 ms doubling to 250 ms,
 * for up to lockTimeoutMs in total; then StoreLocked naming the holder.
 */
const openInstance = Effect.fnUntraced(function*(file: string, access: Access, lockTimeoutMs: number) {
  const options: Record<string, string> = access === "read" ? { access_mode: "READ_ONLY" } : {}
  const started = yield* Clock.currentTimeMillis
  let backoff = 20
  while (true) {
    const opened = yield* Effect.result(
      Effect.tryPromise({ try: (): Promise<DuckDBInstance> => duckdb().DuckDBInstance.create(file, options), catch: errorText })
    )
    if (Result.isSuccess(opened)) return opened.success
    const message = opened.failure
    if (!isLockError(message)) {
      return yield* new StoreError({ message: `cannot open the run store ${file}: ${message}` })
    }
    const waited = (yield* Clock.currentTimeMillis) - started
    if (waited >= lockTimeoutMs) {
      return yield* new StoreLocked({
        file,
        message: `the run store ${file} is locked by ${lockHolder(message)}, which is writing to it ` +
          `(waited ${waited} ms). Retry when that run finishes its stage, or use another --db file. ` +
          `DuckDB said: ${message}`
      })
    }
    yield* Effect.sleep(Math.max(1, Math.min(backoff, lockTimeoutMs - waited)))
    backoff = Math.min(backoff * 2, 250)
  }
})

/** A connection to the file, closed (with its instance) when the scope closes. */
export const connect = (
  file: string,
  access: Access,
  lockTimeoutMs: number
): Effect.Effect<DuckDBConnection, StoreError | StoreLocked, Scope.Scope> =>
  Effect.gen(function*() {
    const instance = yield* Effect.acquireRelease(
      openInstance(file, access, lockTimeoutMs),
      (db) => Effect.sync(() => db.closeSync())
    )
    return yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => instance.connect(),
        catch: (cause) => new StoreError({ message: `cannot connect to ${file}: ${errorText(cause)}`, cause })
      }),
      (conn) => Effect.sync(() => conn.closeSync())
    )
  })

/** Run SQL and read every row; a failure is a StoreError with DuckDB's message (after `context`, if any). */
export const readAll = (
  conn: DuckDBConnection,
  sql: string,
  values?: ReadonlyArray<DuckDBValue>,
  context?: string
): Effect.Effect<DuckDBResultReader, StoreError> =>
  Effect.tryPromise({
    try: () => conn.runAndReadAll(sql, values === undefined ? undefined : [...values]),
    catch: (cause) => new StoreError({ message: context ? `${context}: ${errorText(cause)}` : errorText(cause), cause })
  })

/**
 * Run every statement of `sql` in order and read the last one's rows. (A plain run of a
 * multi-statement string hands back the first statement's result, which is not what a user of
 * `odpo query "…; SELECT …"` expects.)
 */
export const readAllStatements = (conn: DuckDBConnection, sql: string): Effect.Effect<DuckDBResultReader, StoreError> =>
  Effect.tryPromise({
    try: async () => {
      const extracted = await conn.extractStatements(sql)
      if (extracted.count === 0) throw new Error("the SQL holds no statement")
      let last: DuckDBResultReader | undefined
      for (let i = 0; i < extracted.count; i++) {
        const statement = await extracted.prepare(i)
        try {
          last = await statement.runAndReadAll()
        } finally {
          statement.destroySync()
        }
      }
      return last!
    },
    catch: (cause) => new StoreError({ message: errorText(cause), cause })
  })

/** Run SQL for its effect. */
export const exec = (
  conn: DuckDBConnection,
  sql: string,
  values?: ReadonlyArray<DuckDBValue>,
  context?: string
): Effect.Effect<void, StoreError> => Effect.asVoid(readAll(conn, sql, values, context))

/** Run `body` in one transaction: COMMIT if it succeeds, ROLLBACK on any failure or interruption. */
export const transaction = <A, E, R>(
  conn: DuckDBConnection,
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, E | StoreError, R> =>
  Effect.gen(function*() {
    yield* exec(conn, "BEGIN TRANSACTION")
    const out = yield* body.pipe(Effect.onError(() => Effect.ignore(exec(conn, "ROLLBACK"))))
    yield* exec(conn, "COMMIT").pipe(Effect.onError(() => Effect.ignore(exec(conn, "ROLLBACK"))))
    return out
  })
