#!/usr/bin/env bash
# Every study, one after another, each into its own database under runs/ (see experiments/README.md).
# Usage: scripts/studies/all.sh [--backend NAME] [--seeds "0 1 2"]
set -euo pipefail
cd "$(dirname "$0")/../.."
for study in bandit ipo noise-bandit iterative kto frontier online-offline raft length overopt noise-sentiment; do
  echo "== study $study" >&2
  "scripts/studies/$study.sh" "$@"
done
