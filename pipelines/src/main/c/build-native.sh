#!/usr/bin/env bash
# Builds libsluicecpu.so (the native VNNI CPU kernels, see sluice_cpu.h) from the C sources in this
# folder into <output-dir>/native/linux-x86_64/, from where the build packages it into the jar and
# dev.sluice.engine.cpu.NativeKernels loads it. Without gcc, or on another platform, it prints a
# notice and exits 0: the engine then runs its Vector API kernels.
# Usage: build-native.sh <output-dir>   (the module's target/classes)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build-native.sh <output-dir>}/native/linux-x86_64"
CC="${CC:-$(command -v gcc || true)}"
if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
  echo "[build-native] $(uname -s)-$(uname -m): no native kernels for this platform (the Vector API kernels run)"
  exit 0
fi
if [[ -z "$CC" ]]; then
  echo "[build-native] gcc not found: building without native kernels (the Vector API kernels run)"
  exit 0
fi
lib="$out/libsluicecpu.so"
stale=0
for dep in "$here"/*.c "$here"/*.h "${BASH_SOURCE[0]}"; do
  if [[ ! -f "$lib" || "$dep" -nt "$lib" ]]; then stale=1; fi
done
if (( stale == 0 )); then
  echo "[build-native] $lib up to date"
  exit 0
fi
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
common=(-O3 -std=gnu11 -fPIC -Wall -Wextra -Werror -fvisibility=hidden -fno-math-errno)
# The kernels use AVX-512 BW/VL/VNNI; dispatch.c checks the CPU at run time and must not.
kernel_flags=(-mavx512f -mavx512bw -mavx512vl -mavx512vnni -mfma -mf16c)
objs=()
for src in "$here"/*.c; do
  name="$(basename "$src" .c)"
  flags=()
  [[ "$name" != dispatch ]] && flags=("${kernel_flags[@]}")
  "$CC" "${common[@]}" "${flags[@]}" -I"$here" -c "$src" -o "$tmp/$name.o"
  objs+=("$tmp/$name.o")
done
"$CC" -shared -o "$tmp/libsluicecpu.so" "${objs[@]}" -lm
mv "$tmp/libsluicecpu.so" "$lib"
echo "[build-native] $("$CC" --version | head -1): built $lib"
