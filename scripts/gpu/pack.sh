#!/usr/bin/env bash
# Builds the folder a GPU machine with no Node and no network needs beside a checkout of this repo:
# only what the checkout lacks. The checkout itself (experiments/, bench/torch_*.py, scripts/gpu/)
# travels with the device call; the pack is carried beside it (e.g. dist/odpo-gpu, git-ignored).
#   odpo-gpu.tar.xz  one solid xz stream (x86 filter): Node's binary (stripped), the esbuild bundle of
#                    the CLI and the bench, the JavaScript of the native packages, and their natives
#                    (dawn.node, libduckdb.so + duckdb.node, libonnxruntime.so.1 + its binding)
#   debs/            Debian's libvulkan1 (the Vulkan loader; run.sh unpacks it when the machine has none)
#   run.sh, MANIFEST
# A device call carries at most 64 MiB: the checkout's tracked files plus the pack. pack.sh checks
# that sum (ODPO_CARRY_LIMIT_MIB, default 64) and fails with the breakdown when it is over.
# Usage: scripts/gpu/pack.sh [OUT_DIR]    (default dist/odpo-gpu; XZ_LEVEL=-9e by default)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/dist/odpo-gpu}")"
XZ_LEVEL="${XZ_LEVEL:--9e}"
LIMIT_MIB="${ODPO_CARRY_LIMIT_MIB:-64}"
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "pack.sh: builds a linux-x64 pack; this is $(uname -s)-$(uname -m)" >&2; exit 1; }
command -v xz >/dev/null || { echo "pack.sh: needs xz (apt-get install xz-utils)" >&2; exit 1; }
command -v strip >/dev/null || { echo "pack.sh: needs strip (apt-get install binutils)" >&2; exit 1; }

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
TOP="$STAGE/odpo-gpu"
APP="$TOP/app"
rm -rf "$OUT"
mkdir -p "$OUT/debs" "$APP/node_modules" "$TOP/bin"

echo "pack: bundle (CLI + bench)"
node "$ROOT/packages/cli/build.mjs" --out "$APP" --bench >/dev/null

# A package's directory as Node resolves it from packages/cli (where the bundle's externals live).
# (Its package.json may not be exported: resolve the entry point and walk up to the manifest.)
pkgdir() {
  local d
  d="$(cd "$ROOT/packages/cli" && node -e '
    const { dirname, join } = require("path"), { existsSync, readFileSync } = require("fs")
    const [name, base] = [process.argv[1], process.argv[2] || process.cwd()]
    try { console.log(dirname(require.resolve(name + "/package.json", { paths: [base] }))); process.exit(0) } catch {}
    let d = dirname(require.resolve(name, { paths: [base] }))
    while (!(existsSync(join(d, "package.json")) && JSON.parse(readFileSync(join(d, "package.json"), "utf8")).name === name)) {
      if (dirname(d) === d) throw new Error("no package.json named " + name)
      d = dirname(d)
    }
    console.log(d)' "$1" "${2:-}")" || true
  [ -n "$d" ] && [ -f "$d/package.json" ] || { echo "pack.sh: cannot find package $1" >&2; exit 1; }
  echo "$d"
}
# Copy a package's JavaScript (no docs, no other platforms' binaries, no natives).
copy_js() {
  local name="$1" from="$2" dest="$APP/node_modules/$1"
  mkdir -p "$dest"
  (cd "$from" && find . -type f \( -name '*.js' -o -name '*.cjs' -o -name '*.mjs' -o -name 'package.json' \) \
      -not -path './build/*' -not -path './test/*' -not -path '*/node_modules/*' -print0 | tar --null -T - -cf - | tar -xf - -C "$dest")
}
# Copy a native file into the app, without its symbols (nothing here debugs them on the GPU host).
native() {
  local rel="$1" file="$2"
  mkdir -p "$APP/node_modules/$(dirname "$rel")"
  cp "$file" "$APP/node_modules/$rel"
  strip --strip-unneeded "$APP/node_modules/$rel" 2>/dev/null || true
}

echo "pack: native packages"
WEBGPU="$(pkgdir webgpu)"
copy_js webgpu "$WEBGPU"
native webgpu/dist/linux-x64/dawn.node "$WEBGPU/dist/linux-x64/dawn.node"

DUCK_API="$(pkgdir @duckdb/node-api)"
DUCK_BIND="$(pkgdir @duckdb/node-bindings "$DUCK_API")"
DUCK_LINUX="$(pkgdir @duckdb/node-bindings-linux-x64 "$DUCK_BIND")"
copy_js @duckdb/node-api "$DUCK_API"
copy_js @duckdb/node-bindings "$DUCK_BIND"
copy_js detect-libc "$(pkgdir detect-libc "$DUCK_BIND")"
copy_js @duckdb/node-bindings-linux-x64 "$DUCK_LINUX"
native @duckdb/node-bindings-linux-x64/duckdb.node "$DUCK_LINUX/duckdb.node"
native @duckdb/node-bindings-linux-x64/libduckdb.so "$DUCK_LINUX/libduckdb.so"

ORT="$(pkgdir onnxruntime-node)"
copy_js onnxruntime-node "$ORT"
find "$APP/node_modules/onnxruntime-node" -path '*/script/*' -delete 2>/dev/null || true
copy_js onnxruntime-common "$(pkgdir onnxruntime-common "$ORT")"
native onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node "$ORT/bin/napi-v6/linux/x64/onnxruntime_binding.node"
native onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 "$ORT/bin/napi-v6/linux/x64/libonnxruntime.so.1"

echo "pack: Node $(node --version)"
cp "$(readlink -f "$(command -v node)")" "$TOP/bin/node"
strip "$TOP/bin/node"

# One solid stream with the x86 (BCJ) filter: ~2 MB smaller than each file on its own, and one
# thread, since xz's threads split the input into blocks that compress worse.
echo "pack: compressing (xz $XZ_LEVEL, one solid stream)"
preset="${XZ_LEVEL#-}"
tar -C "$STAGE" --owner=0 --group=0 --sort=name -cf - odpo-gpu | xz --x86 --lzma2=preset="$preset",dict=256MiB -T1 > "$OUT/odpo-gpu.tar.xz"

echo "pack: Vulkan loader (Debian's libvulkan1)"
if (cd "$OUT/debs" && apt-get download libvulkan1 >/dev/null 2>&1); then :; else
  echo "pack: could not download libvulkan1 (no Debian registry here): the pack needs a machine with a Vulkan loader" >&2
fi

cp "$ROOT/scripts/gpu/run.sh" "$OUT/run.sh"
chmod +x "$OUT/run.sh"
{
  echo "odpo GPU pack · $(date -u +%FT%TZ) · $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "node $(node --version) · webgpu $(node -p "require('$WEBGPU/package.json').version") · duckdb $(node -p "require('$DUCK_API/package.json').version") · onnxruntime-node $(node -p "require('$ORT/package.json').version")"
  (cd "$OUT" && find . -type f ! -name MANIFEST -print0 | sort -z | xargs -0 sha256sum)
} > "$OUT/MANIFEST"

# What a device call carries: the checkout's tracked files (they travel anyway) plus this pack.
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
pack_bytes=$(du -sb "$OUT" | cut -f1)
tracked_bytes=$(cd "$ROOT" && git ls-files -z 2>/dev/null | xargs -0 -r stat -c %s -- 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
total=$((pack_bytes + tracked_bytes))
echo "pack: $OUT: $(mib "$pack_bytes"); with the checkout's tracked files ($(mib "$tracked_bytes")): $(mib "$total") of $LIMIT_MIB MiB a device call carries"
if [ "$total" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "pack: over the $LIMIT_MIB MiB a device call carries, by $(mib $((total - LIMIT_MIB * 1048576))). Largest tracked files:" >&2
  (cd "$ROOT" && git ls-files -z | xargs -0 stat -c '%s %n' | sort -rn | head -5 | while read -r s n; do echo "  $(mib "$s")  $n" >&2; done)
  exit 1
fi
