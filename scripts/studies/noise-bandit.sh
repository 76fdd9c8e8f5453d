#!/usr/bin/env bash
# Label noise on the bandit: DPO vs cDPO vs rDPO with a share ε of pairs flipped. experiments/bandit/README.md
# Usage: scripts/studies/noise-bandit.sh [--db FILE] [--backend NAME] [--seeds "0 1 2"]   (default --db runs/noise-bandit.duckdb)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/seeds.sh --db runs/noise-bandit.duckdb "$@" \
  experiments/bandit/noise-dpo-e0.json experiments/bandit/noise-dpo-e0.1.json experiments/bandit/noise-dpo-e0.2.json experiments/bandit/noise-dpo-e0.4.json \
  experiments/bandit/noise-cdpo-e0.json experiments/bandit/noise-cdpo-e0.1.json experiments/bandit/noise-cdpo-e0.2.json experiments/bandit/noise-cdpo-e0.4.json \
  experiments/bandit/noise-rdpo-e0.json experiments/bandit/noise-rdpo-e0.1.json experiments/bandit/noise-rdpo-e0.2.json experiments/bandit/noise-rdpo-e0.4.json
