#!/usr/bin/env bash
# End-to-end check of pack.sh + run.sh on this machine (llvmpipe, no GPU needed): pack into a temp
# dir, unpack elsewhere, `odpo --help`, a tiny 2-round `odpo run --backend webgpu` whose runs row
# names the adapter, and the same run with onnxruntime's natives removed (a run without an ONNX
# reward never loads them). By hand, not in CI: packing compresses ~250 MB with xz.
# Usage: scripts/gpu/test-pack.sh    (XZ_LEVEL=-1 by default here: fast; the size limit is checked
# only at pack.sh's default level)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "test-pack: FAILED: $*" >&2; exit 1; }

XZ_LEVEL="${XZ_LEVEL:--1}" bash "$ROOT/scripts/gpu/pack.sh" "$TMP/pack" || [ "${XZ_LEVEL:--1}" != "-9e" ] || fail "pack.sh"
[ -f "$TMP/pack/run.sh" ] && [ -f "$TMP/pack/MANIFEST" ] || fail "pack.sh wrote no complete folder"
export ODPO_GPU_HOME="$TMP/home"
CONFIG="$ROOT/packages/cli/test/fixtures/tiny-bandit.json"

"$TMP/pack/run.sh" odpo --help | grep -q "Iterative online DPO" || fail "odpo --help"

"$TMP/pack/run.sh" odpo run "$CONFIG" --backend webgpu --db "$TMP/a.duckdb" > "$TMP/a.log" 2>&1 || { cat "$TMP/a.log"; fail "odpo run --backend webgpu"; }
row="$("$TMP/pack/run.sh" odpo query "SELECT backend || ' | ' || device || ' | ' || status FROM runs" --db "$TMP/a.duckdb" --format csv | tail -1)"
echo "runs row: $row"
case "$row" in webgpu*" | "*finished) ;; *) fail "runs row: $row" ;; esac

mv "$ODPO_GPU_HOME/app/node_modules/onnxruntime-node/bin" "$TMP/ort-bin"
"$TMP/pack/run.sh" odpo run "$CONFIG" --backend cpu --db "$TMP/b.duckdb" > "$TMP/b.log" 2>&1 || { cat "$TMP/b.log"; fail "a run without onnxruntime's natives"; }
echo "test-pack: ok ($(du -sh "$TMP/pack" | cut -f1) at XZ_LEVEL=${XZ_LEVEL:--1})"
