/** `odpo query "SQL"`: any SQL over the run store, as a table, CSV or JSON. */
import { Console, Effect } from "effect"
import { Argument, Command } from "effect/cli"
import { RunStore } from "@odpo/core"
import { formats } from "../Format.ts"
import { storeLayer } from "../Services.ts"
import { dbFlag, formatFlag } from "./shared.ts"

export const query = Command.make(
  "query",
  {
    sql: Argument.String("sql").pipe(Argument.withDescription("SQL over runs, rounds, rollouts, scores, pairs, … and the views")),
    db: dbFlag,
    format: formatFlag
  },
  Effect.fn(function*({ sql, db, format }) {
    const result = yield* Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      return yield* store.query(sql)
    }).pipe(Effect.provide(storeLayer(db)))
    yield* Console.log(formats[format](result))
  })
).pipe(Command.withDescription("Run SQL against the run store (tables and views: see README's SQL cookbook)"))
