/** odpo's version: what `odpo --version` prints and what each run records as `runs.code_version`. */
export const odpoVersion = "0.1.0"
