#!/usr/bin/env bash
# Runs odpo from the folder scripts/gpu/pack.sh made, on a GPU machine with no Node and no network.
#   ./run.sh odpo run experiments/bandit/online.json --backend webgpu     any odpo command
#   ./run.sh bench --backend webgpu --out DIR                            the webgpu bench
#   ./run.sh measure OUT_DIR                                             every GPU figure in one call
#   ./run.sh node …                                                      the carried Node
# Relative paths are taken from the unpacked app directory (experiments/ is there); ODPO_GPU_HOME
# (default: <this folder>/.unpacked) is where it unpacks, once per pack.
set -euo pipefail
PACK="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOME_DIR="${ODPO_GPU_HOME:-$PACK/.unpacked}"
APP="$HOME_DIR/app"
NODE="$HOME_DIR/bin/node"

need() { command -v "$1" >/dev/null || { echo "run.sh: needs $1 ($2)" >&2; exit 1; }; }

unpack() {
  need xz "Debian: xz-utils"
  need tar "tar"
  echo "run.sh: unpacking into $HOME_DIR" >&2
  rm -rf "$HOME_DIR"
  mkdir -p "$HOME_DIR/bin"
  xz -dc "$PACK/node.xz" > "$NODE"
  chmod +x "$NODE"
  xz -dc "$PACK/app.tar.xz" | tar -xf - -C "$HOME_DIR"
  (cd "$PACK/natives" && find . -name '*.xz' -print) | while read -r f; do
    mkdir -p "$APP/node_modules/$(dirname "$f")"
    xz -dc "$PACK/natives/$f" > "$APP/node_modules/${f%.xz}"
  done
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
cd "$APP"
case "$cmd" in
  odpo) exec "$NODE" "$APP/odpo.mjs" "$@" ;;
  bench) exec "$NODE" "$APP/bench.mjs" "$@" ;;
  measure) PATH="$HOME_DIR/bin:$PATH" exec bash "$APP/scripts/gpu/measure.sh" "$@" ;;
  node) exec "$NODE" "$@" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
