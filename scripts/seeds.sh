#!/usr/bin/env bash
# Run each config over seeds 0 1 2 into one database, naming runs <config name>-s<seed>.
#
# Usage: scripts/seeds.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"] [--bon [--samples N]] CONFIG…
#   --db FILE       the database (default: $DB, else runs/odpo.duckdb)
#   --backend NAME  the engine of every run (default: each config's engine.backend)
#   --seeds "…"     the seeds (default: $SEEDS, else "0 1 2")
#   --bon           best-of-n from each config's π₀ (`odpo bon`) instead of `odpo run`; runs are
#                   named <config name>-bon-s<seed>; --samples N draws N per held-out prompt
#
# A study stopped midway continues where it stopped: a run already finished under its name is
# skipped, and one that failed or was killed is resumed (`odpo resume`) at its first unfinished
# stage (a best-of-n run, which cannot be resumed, is run again under the same name).
set -euo pipefail
cd "$(dirname "$0")/.."
DB="${DB:-runs/odpo.duckdb}"
SEEDS="${SEEDS:-0 1 2}"
backend=()
bon=0
samples=()
configs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --db) DB="$2"; shift 2 ;;
    --backend) backend=(--backend "$2"); shift 2 ;;
    --seeds) SEEDS="$2"; shift 2 ;;
    --bon) bon=1; shift ;;
    --samples) samples=(--samples "$2"); shift 2 ;;
    -*) echo "seeds.sh: unknown option $1 (see the usage at the top of scripts/seeds.sh)" >&2; exit 2 ;;
    *) configs+=("$1"); shift ;;
  esac
done
[ ${#configs[@]} -gt 0 ] || { echo "seeds.sh: name at least one experiment config" >&2; exit 2; }

# The CLI itself (what `pnpm odpo` runs), without pnpm's start-up for each of a study's hundreds of calls.
odpo() { node packages/cli/bin/odpo.js "$@"; }

# finished | failed | running | none: the newest run of that name in $DB (a failed query stops the script).
status_of() {
  [ -f "$DB" ] || { echo none; return; }
  odpo query --db "$DB" --format csv \
    "SELECT coalesce(max_by(status, created_at), 'none') FROM runs WHERE name = '$1'" | tail -n 1
}

for config in "${configs[@]}"; do
  name=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).name)' "$config")
  [ $bon -eq 1 ] && name="$name-bon"
  for seed in $SEEDS; do
    run="$name-s$seed"
    status=$(status_of "$run")
    case "$status" in
      finished) echo "seeds.sh: $run is already finished in $DB; skipped" >&2 ;;
      failed | running)
        if [ $bon -eq 1 ]; then odpo bon "$config" --db "$DB" --seed "$seed" --name "$run" "${samples[@]}" "${backend[@]}"
        else odpo resume "$run" --db "$DB" "${backend[@]}"; fi ;;
      *)
        if [ $bon -eq 1 ]; then odpo bon "$config" --db "$DB" --seed "$seed" --name "$run" "${samples[@]}" "${backend[@]}"
        else odpo run "$config" --db "$DB" --seed "$seed" --name "$run" "${backend[@]}"; fi ;;
    esac
  done
done
