#!/usr/bin/env bash
# End-to-end check of pack.sh + run.sh + measure.sh on this machine (llvmpipe, no GPU needed), laid
# out as a device call lays them: a copy of the checkout's tracked files with the pack carried
# inside it at dist/odpo-gpu. Checks `odpo --help`, a tiny 2-round `odpo run --backend webgpu` whose
# runs row names the backend, the adapter and `finished`, `run.sh measure` in its quick mode (every
# step on the tiny config, the PyTorch peers on the CPU) with no failure, and the same run with
# onnxruntime's natives removed (a run without an ONNX reward never loads them). The size check —
# the checkout's tracked files plus the pack within what a device call carries — is pack.sh's own.
# By hand, not in CI: packing compresses ~250 MB with xz.
# Usage: scripts/gpu/test-pack.sh    (XZ_LEVEL=-1 by default here: fast; the size limit is checked
# at pack.sh's default level only, so run `scripts/gpu/pack.sh` once before a device call)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "test-pack: FAILED: $*" >&2; exit 1; }

# The checkout as a device call sees it: tracked files only (no node_modules, no dist).
mkdir -p "$TMP/checkout"
(cd "$ROOT" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$TMP/checkout"
PACK="$TMP/checkout/dist/odpo-gpu"
if [ "${XZ_LEVEL:--1}" = "-9e" ]; then bash "$ROOT/scripts/gpu/pack.sh" "$PACK" || fail "pack.sh"
else XZ_LEVEL="${XZ_LEVEL:--1}" ODPO_CARRY_LIMIT_MIB=1024 bash "$ROOT/scripts/gpu/pack.sh" "$PACK" || fail "pack.sh"; fi
[ -f "$PACK/run.sh" ] && [ -f "$PACK/MANIFEST" ] && [ -f "$PACK/odpo-gpu.tar.xz" ] || fail "pack.sh wrote no complete folder"
export ODPO_GPU_HOME="$TMP/home"
# No Node on the PATH, as on the GPU machine: run.sh must bring its own.
export PATH="$(echo "$PATH" | tr ':' '\n' | grep -v -e nvm -e node -e pnpm | paste -sd: -)"
command -v node >/dev/null && [ "$(dirname "$(command -v node)")" != /usr/bin ] && fail "could not hide Node from the PATH"
CONFIG="packages/cli/test/fixtures/tiny-bandit.json"
cd "$TMP"

"$PACK/run.sh" odpo --help | grep -q "Iterative online DPO" || fail "odpo --help"

"$PACK/run.sh" odpo run "$CONFIG" --backend webgpu --db "$TMP/a.duckdb" > "$TMP/a.log" 2>&1 || { cat "$TMP/a.log"; fail "odpo run --backend webgpu"; }
# backend and status only: the adapter's name has commas, which CSV quotes
row="$("$PACK/run.sh" odpo query "SELECT backend, status, length(device) > 0 AS named FROM runs" --db "$TMP/a.duckdb" --format csv | tail -1)"
echo "runs row: $row"
[ "$row" = "webgpu,finished,true" ] || fail "runs row: $row (want webgpu,finished,true)"

PYTHON=/usr/bin/python3 ODPO_MEASURE_QUICK=1 "$PACK/run.sh" measure "$TMP/figures" > "$TMP/measure.log" 2>&1 || { cat "$TMP/measure.log"; fail "run.sh measure"; }
[ -f "$TMP/figures/RESULTS-gpu.md" ] && [ -f "$TMP/figures/all.tar.gz" ] || { cat "$TMP/measure.log"; fail "measure wrote no RESULTS-gpu.md / all.tar.gz"; }
[ ! -f "$TMP/figures/failures.txt" ] || { cat "$TMP/figures/failures.txt"; fail "a measure step failed"; }
grep -q "webgpu" "$TMP/figures/RESULTS-gpu.md" || fail "RESULTS-gpu.md names no webgpu figure"

mv "$ODPO_GPU_HOME/app/node_modules/onnxruntime-node/bin" "$TMP/ort-bin"
"$PACK/run.sh" odpo run "$CONFIG" --backend cpu --db "$TMP/b.duckdb" > "$TMP/b.log" 2>&1 || { cat "$TMP/b.log"; fail "a run without onnxruntime's natives"; }
echo "test-pack: ok ($(du -sh "$PACK" | cut -f1) at XZ_LEVEL=${XZ_LEVEL:--1})"
