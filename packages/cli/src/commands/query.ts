/** `odpo query "SQL"`: SQL over the run store, as a table, CSV or JSON; read-only unless --write. */
import { Console, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { RunStore } from "@odpo/core"
import { formats } from "../Format.ts"
import { storeLayer } from "../Services.ts"
import { dbFlag, formatFlag } from "./shared.ts"

export const query = Command.make(
  "query",
  {
    sql: Argument.String("sql").pipe(Argument.withDescription("SQL over runs, rounds, rollouts, scores, pairs, … and the views")),
    db: dbFlag,
    format: formatFlag,
    write: Flag.Boolean("write").pipe(
      Flag.withDescription("let the SQL change the database (INSERT, UPDATE, DELETE, DROP, ATTACH, COPY …); without it such SQL is refused"),
      Flag.withDefault(false)
    )
  },
  Effect.fn(function*({ sql, db, format, write }) {
    const result = yield* Effect.gen(function*() {
      const store = yield* RunStore.RunStore
      return yield* store.query(sql, { write })
    }).pipe(Effect.provide(storeLayer(db, { create: false })))
    yield* Console.log(formats[format](result))
  })
).pipe(Command.withDescription("Run SQL against the run store (tables and views: see README's SQL cookbook); reads a snapshot, so a long query never holds up a run"))
