#!/usr/bin/env bash
# The native VNNI CPU kernels (pipelines/src/main/c) are built by gcc during the Maven build, and
# NativeKernelsTest fails on an AVX-512 VNNI machine whose build lacks them. Installs gcc when it
# is missing. Idempotent.
set -euo pipefail
if command -v gcc >/dev/null 2>&1; then
  echo "[native] gcc present: $(gcc --version | head -1)"
  exit 0
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev
echo "[native] installed $(gcc --version | head -1)"
