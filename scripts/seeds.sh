#!/usr/bin/env bash
# Run each config over seeds 0 1 2 (or $SEEDS) into one database ($DB, default runs/odpo.duckdb),
# naming runs <config name>-s<seed>. Usage: scripts/seeds.sh experiments/bandit/online.json …
set -euo pipefail
cd "$(dirname "$0")/.."
DB="${DB:-runs/odpo.duckdb}"
for config in "$@"; do
  name=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).name)' "$config")
  for seed in ${SEEDS:-0 1 2}; do
    npx -y pnpm@12.4.2 odpo run "$config" --db "$DB" --seed "$seed" --name "$name-s$seed"
  done
done
