/**
 * Migration 8: a runs folder that moves. Checkpoint paths (checkpoints.path, the run's
 * checkpointRoot in runs.config) are stored relative to the database's folder when they lie under
 * it (StorePaths.ts); this rewrites the absolute paths an older odpo wrote there, so that the folder
 * can be moved or copied from now on. Paths elsewhere stay absolute.
 */
import { sep } from "node:path"

/** A SQL string literal. */
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`

export const trustV8 = (dir: string): string => {
  const prefix = literal(dir.endsWith(sep) ? dir : `${dir}${sep}`)
  const here = literal(dir)
  return `
UPDATE checkpoints SET path = substr(path, length(${prefix}) + 1) WHERE starts_with(path, ${prefix});
UPDATE runs SET config = json_merge_patch(config, json_object('checkpointRoot',
    CASE WHEN config->>'checkpointRoot' = ${here} THEN '.' ELSE substr(config->>'checkpointRoot', length(${prefix}) + 1) END))
  WHERE config->>'checkpointRoot' = ${here} OR starts_with(config->>'checkpointRoot', ${prefix});
`
}
