/** The failures `odpo report` and `odpo export` can meet, one tagged error each, messages that say what to do. */
import { Schema } from "effect"

/** `--study PREFIX` that names no run; the message lists the nearest run names. */
export class StudyNotFound extends Schema.TaggedError<StudyNotFound>()("StudyNotFound", {
  message: Schema.String,
  prefix: Schema.String
}) {}

/** A report file or export directory that cannot be written. */
export class OutputNotWritable extends Schema.TaggedError<OutputNotWritable>()("OutputNotWritable", {
  message: Schema.String,
  path: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** Charts that vega could not render (a bug in a chart's spec, not in the data). */
export class RenderError extends Schema.TaggedError<RenderError>()("RenderError", {
  message: Schema.String,
  chart: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}
