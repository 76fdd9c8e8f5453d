#!/usr/bin/env bash
# Runs odpo from the folder scripts/gpu/pack.sh made, on a GPU machine with no Node and no network,
# beside a checkout of this repo (the pack holds Node, the bundle and the natives; the checkout holds
# experiments/, bench/torch_*.py and scripts/gpu/).
#   ./run.sh odpo run experiments/bandit/online.json --backend webgpu     any odpo command
#   ./run.sh bench --backend webgpu --out DIR                            the webgpu bench
#   ./run.sh measure OUT_DIR                                             every GPU figure in one call
#   ./run.sh node …                                                      the carried Node
# Commands run in the checkout (relative paths resolve there): $ODPO_CHECKOUT, else the nearest
# folder above the pack holding experiments/ and scripts/gpu/, else the current directory.
# ODPO_GPU_HOME (default: <this folder>/.unpacked) is where it unpacks, once per pack.
set -euo pipefail
PACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOME_DIR="${ODPO_GPU_HOME:-$PACK/.unpacked}"
APP="$HOME_DIR/app"
NODE="$HOME_DIR/bin/node"

# xz and tar, or Python's lzma and tarfile where the machine lacks them (a GPU image has Python).
unxz_tar() {
  if command -v xz >/dev/null && command -v tar >/dev/null; then xz -dc "$1" | tar -xf - -C "$2"
  elif command -v python3 >/dev/null; then python3 -c 'import sys, tarfile
t = tarfile.open(sys.argv[1], "r:xz")
t.extractall(sys.argv[2], **({"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}))' "$1" "$2"
  else echo "run.sh: needs xz and tar (Debian: xz-utils) or python3 to unpack $1" >&2; exit 1; fi
}

unpack() {
  [ -f "$PACK/odpo-gpu.tar.xz" ] || { echo "run.sh: $PACK/odpo-gpu.tar.xz is missing: rebuild the pack with scripts/gpu/pack.sh" >&2; exit 1; }
  echo "run.sh: unpacking into $HOME_DIR" >&2
  rm -rf "$HOME_DIR"
  mkdir -p "$HOME_DIR"
  rm -rf "$HOME_DIR.tmp.$$"; mkdir -p "$HOME_DIR.tmp.$$"
  unxz_tar "$PACK/odpo-gpu.tar.xz" "$HOME_DIR.tmp.$$"
  mv "$HOME_DIR.tmp.$$/odpo-gpu"/* "$HOME_DIR/" && rm -rf "$HOME_DIR.tmp.$$"
  chmod +x "$NODE"
  # The Vulkan loader, where the machine has none: Debian's libvulkan1, unpacked here (no root).
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
    deb="$(ls "$PACK"/debs/libvulkan1_*.deb 2>/dev/null | head -1 || true)"
    if [ -n "$deb" ]; then
      mkdir -p "$HOME_DIR/vulkan"
      if command -v dpkg >/dev/null; then dpkg -x "$deb" "$HOME_DIR/vulkan"
      else (cd "$HOME_DIR/vulkan" && ar x "$deb" && tar -xf data.tar.* && rm -f data.tar.* control.tar.* debian-binary); fi
    fi
  fi
  sha256sum "$PACK/MANIFEST" | cut -c1-64 > "$HOME_DIR/.manifest"
}

if [ ! -x "$NODE" ] || [ "$(cat "$HOME_DIR/.manifest" 2>/dev/null)" != "$(sha256sum "$PACK/MANIFEST" | cut -c1-64)" ]; then unpack; fi

checkout() {
  if [ -n "${ODPO_CHECKOUT:-}" ]; then echo "$ODPO_CHECKOUT"; return; fi
  local d="$PACK"
  while [ "$d" != / ]; do
    d="$(dirname "$d")"
    if [ -d "$d/experiments" ] && [ -d "$d/scripts/gpu" ]; then echo "$d"; return; fi
  done
  pwd
}
CHECKOUT="$(checkout)"

if [ -d "$HOME_DIR/vulkan" ]; then
  export LD_LIBRARY_PATH="$(find "$HOME_DIR/vulkan" -name 'libvulkan.so.1' -printf '%h\n' | head -1)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# NVIDIA's ICD where GPU containers put it, unless the caller chose one.
NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$NV_ICD" ]; then export VK_DRIVER_FILES="$NV_ICD"; fi

cmd="${1:-}"
[ $# -gt 0 ] && shift
# measure's output folder is the caller's (relative to where run.sh was called)
if [ "$cmd" = measure ]; then set -- "$(realpath -m "${1:-gpu-figures}")"; fi
cd "$CHECKOUT"
case "$cmd" in
  odpo) exec "$NODE" "$APP/odpo.mjs" "$@" ;;
  bench) exec "$NODE" "$APP/bench.mjs" "$@" ;;
  measure)
    [ -f "$CHECKOUT/scripts/gpu/measure.sh" ] || { echo "run.sh: no scripts/gpu/measure.sh in $CHECKOUT: run from a checkout, or set ODPO_CHECKOUT" >&2; exit 1; }
    ODPO_APP="$APP" PATH="$HOME_DIR/bin:$PATH" exec bash "$CHECKOUT/scripts/gpu/measure.sh" "$@" ;;
  node) exec "$NODE" "$@" ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
