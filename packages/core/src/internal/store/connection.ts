/** Opening the run store's DuckDB file: lock retry with backoff, snapshots for long reads, close on every exit. */
import type { DuckDBConnection, DuckDBInstance, DuckDBResultReader, DuckDBValue, StatementType } from "@duckdb/node-api"
import { Clock, Effect, Result } from "effect"
import { duckdb } from "./duckdb.ts"
import type { Scope } from "effect"
import { existsSync, readdirSync, rmSync } from "node:fs"
import { constants, copyFile } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { StoreError, StoreLocked } from "../../Errors.ts"

/** "read" opens the file READ_ONLY (several readers may share it); "write" takes DuckDB's exclusive lock. */
export type Access = "read" | "write"

/**
 * What a query's statements may do: "read" only reads the database; "files" may also write files
 * with `COPY (…) TO` (odpo export), still never the database; "write" may do anything.
 */
export type QueryAccess = "read" | "files" | "write"

const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

// DuckDB: 'IO Error: Could not set lock on file "x": Conflicting lock is held in /usr/bin/node (PID 7506). …'
const isLockError = (message: string) => /Could not set lock on file|Conflicting lock/.test(message)

// A file cut short (a full disk, a copy stopped half way) or overwritten: DuckDB cannot read its blocks.
export const isDamaged = (message: string) => /Could not read enough bytes|not a valid DuckDB database file|[Cc]orrupt|checksum|Failed to rollback/.test(message)

/** The process DuckDB says holds the file, e.g. "/usr/bin/node (PID 7506)". */
export const lockHolder = (message: string): string =>
  message.match(/held in (.+?\(PID \d+\))/)?.[1] ?? message.match(/PID \d+/)?.[0] ?? "another process"

/** What a damaged file is told as, wherever DuckDB first trips on it (opening it, or a block read later). */
export const damagedMessage = (file: string, message: string) =>
  `the run store ${file} is truncated or corrupt, so no run can read or write it: restore it from a copy, or use another --db. DuckDB said: ${message}`

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
      return yield* new StoreError({ message: isDamaged(message) ? damagedMessage(file, message) : `cannot open the run store ${file}: ${message}` })
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

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

let snapshots = 0

/**
 * A private copy of the file, made while holding a read-only open (so it is one committed state),
 * and deleted when the scope closes. A reader queries the copy for as long as it likes: the
 * file's lock is held only for the copy (a reflink where the filesystem has them, else about a
 * second per GB), so a long query never makes a run's stage write wait. Copies that a killed
 * reader left behind are removed by the next one.
 */
export const snapshot = (file: string, lockTimeoutMs: number): Effect.Effect<string, StoreError | StoreLocked, Scope.Scope> => {
  const dir = dirname(file)
  const prefix = `.${basename(file)}.snapshot-`
  const remove = (copy: string) => Effect.sync(() => [copy, `${copy}.wal`].forEach((f) => rmSync(f, { force: true })))
  const copy = `${join(dir, prefix)}${process.pid}-${snapshots++}`
  return Effect.acquireRelease(
    Effect.scoped(Effect.gen(function*() {
      for (const stale of readdirSync(dir).filter((f) => f.startsWith(prefix) && !f.endsWith(".wal"))) {
        const pid = Number(stale.slice(prefix.length).split("-")[0])
        if (Number.isInteger(pid) && !isAlive(pid)) yield* remove(join(dir, stale))
      }
      yield* connect(file, "read", lockTimeoutMs)
      yield* Effect.tryPromise({
        try: async () => {
          await copyFile(file, copy, constants.COPYFILE_FICLONE)
          // A run killed mid-write leaves a WAL that a read-only open replays: the copy needs it too.
          if (existsSync(`${file}.wal`)) await copyFile(`${file}.wal`, `${copy}.wal`, constants.COPYFILE_FICLONE)
        },
        catch: (cause) => new StoreError({ message: `cannot copy the run store ${file} for reading into ${dir}: ${errorText(cause)}`, cause })
      }).pipe(Effect.onError(() => remove(copy)))
      return copy
    })),
    remove
  )
}

/** Statements a read-only query may run: they read the database and write no file (DuckDB loads lazily, so the set does too). */
let readStatementSet: ReadonlySet<StatementType> | undefined
const readStatements = (): ReadonlySet<StatementType> => {
  const { StatementType: T } = duckdb()
  return (readStatementSet ??= new Set<StatementType>([T.SELECT, T.EXPLAIN, T.PRAGMA, T.CALL, T.SET, T.VARIABLE_SET]))
}
// On a read-only open DuckDB types a statement that would write as INVALID (its binding failed).
const whatItDoes = (t: StatementType) => {
  const { StatementType: T } = duckdb()
  return t === T.INVALID ? "would write" : `is ${T[t] ?? String(t)}`
}

/** A query that would change the database (or write files) where only reading was asked for. */
export class WriteRefused extends Error {}

/**
 * DuckDB work as an Effect that an interrupt (Ctrl-C) stops: it interrupts the connection's query
 * and waits for DuckDB to let go, since closing a connection under a running query hangs the process.
 */
const interruptible = <A>(conn: DuckDBConnection, options: { readonly try: () => Promise<A>; readonly catch: (cause: unknown) => StoreError }) =>
  Effect.suspend(() => {
    const work = options.try()
    return Effect.tryPromise({ try: () => work, catch: options.catch }).pipe(
      Effect.onInterrupt(() => Effect.promise(() => (conn.interrupt(), work.then(() => undefined, () => undefined))))
    )
  })

/** Run SQL and read every row; a failure is a StoreError with DuckDB's message (after `context`, if any). */
export const readAll = (
  conn: DuckDBConnection,
  sql: string,
  values?: ReadonlyArray<DuckDBValue>,
  context?: string
): Effect.Effect<DuckDBResultReader, StoreError> =>
  interruptible(conn, {
    try: () => conn.runAndReadAll(sql, values === undefined ? undefined : [...values]),
    catch: (cause) => new StoreError({ message: context ? `${context}: ${errorText(cause)}` : errorText(cause), cause })
  })

/**
 * Run every statement of `sql` in order and read the last one's rows. (A plain run of a
 * multi-statement string hands back the first statement's result, which is not what a user of
 * `odpo query "…; SELECT …"` expects.)
 */
export const readAllStatements = (conn: DuckDBConnection, sql: string, access: QueryAccess): Effect.Effect<DuckDBResultReader, StoreError> =>
  interruptible(conn, {
    try: async () => {
      const extracted = await conn.extractStatements(sql)
      let last: DuckDBResultReader | undefined
      for (let i = 0; i < extracted.count; i++) {
        const statement = await extracted.prepare(i).catch((e: unknown) => {
          // A read-only open refuses a write while binding it, before its type can be read.
          throw access !== "write" && /read-only mode/.test(errorText(e)) ? new WriteRefused(`statement ${i + 1} would write`) : e
        })
        const allowed = access === "write" || readStatements().has(statement.statementType) || (access === "files" && statement.statementType === duckdb().StatementType.COPY)
        if (!allowed) {
          statement.destroySync()
          throw new WriteRefused(`statement ${i + 1} ${whatItDoes(statement.statementType)}`)
        }
        try {
          last = await statement.runAndReadAll()
        } finally {
          statement.destroySync()
        }
      }
      return last!
    },
    catch: (cause) =>
      new StoreError({
        message: cause instanceof WriteRefused
          ? `odpo query reads only, and ${cause.message}: nothing was changed. Pass --write to change the database on purpose`
          : errorText(cause),
        cause
      })
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
