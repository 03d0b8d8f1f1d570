#!/usr/bin/env bash
# Compiles every kernel source in this folder to PTX for compute_80 and compute_90, plus a sm_90
# cubin (Hopper SASS: H100/H200 load it without JIT), and refreshes the committed copies under
# src/main/resources/cuda/ (which the build then packages), so a machine without nvcc still ships
# the kernels. Exits 0 with a notice when nvcc is absent.
# Usage: build-ptx.sh [output-dir]   (default: ../resources/cuda next to this script)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/../resources/cuda}"
NVCC="${NVCC:-$(command -v nvcc || true)}"
if [[ -z "$NVCC" ]]; then
  echo "[build-ptx] nvcc not found: keeping the committed PTX in $out"
  exit 0
fi
mkdir -p "$out"
# Up to date when every image is newer than every source (and this script): skip nvcc, which takes
# a minute for matmul.cu. Set PTX_FORCE=1 to rebuild anyway.
if [[ -z "${PTX_FORCE:-}" ]]; then
  stale=0
  for src in "$here"/*.cu; do
    name="$(basename "$src" .cu)"
    for img in "$out/$name.sm80.ptx" "$out/$name.sm90.ptx" "$out/$name.sm90.cubin"; do
      for dep in "$here"/*.cu "$here"/*.cuh "${BASH_SOURCE[0]}"; do
        if [[ ! -f "$img" || "$dep" -nt "$img" ]]; then stale=1; fi
      done
    done
  done
  if (( stale == 0 )); then
    echo "[build-ptx] kernels up to date in $out"
    exit 0
  fi
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
changed=0
for src in "$here"/*.cu; do
  name="$(basename "$src" .cu)"
  for arch in 80 90; do
    "$NVCC" --ptx -arch=compute_$arch -O3 -std=c++17 -I"$here" -o "$tmp/$name.sm$arch.ptx" "$src"
    # Drop nvcc's build stamp lines so an unchanged source gives byte-identical PTX.
    sed -i -e '/^\/\/ Compiler Build ID/d' -e '/^\/\/ Cuda compilation tools/d' -e '/^\/\/ Based on/d' \
      "$tmp/$name.sm$arch.ptx"
    if ! cmp -s "$tmp/$name.sm$arch.ptx" "$out/$name.sm$arch.ptx"; then
      cp "$tmp/$name.sm$arch.ptx" "$out/$name.sm$arch.ptx"
      changed=$((changed + 1))
    else
      touch "$out/$name.sm$arch.ptx"
    fi
  done
  "$NVCC" --cubin -arch=sm_90 -O3 -std=c++17 -I"$here" -o "$tmp/$name.sm90.cubin" "$src"
  if ! cmp -s "$tmp/$name.sm90.cubin" "$out/$name.sm90.cubin"; then
    cp "$tmp/$name.sm90.cubin" "$out/$name.sm90.cubin"
    changed=$((changed + 1))
  else
    touch "$out/$name.sm90.cubin"
  fi
done
echo "[build-ptx] $("$NVCC" --version | tail -1): $changed file(s) refreshed in $out"
