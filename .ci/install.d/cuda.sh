#!/usr/bin/env bash
# CUDA kernel checks without a GPU (CudaKernelSourcesTest) need nvcc. The Sluice build machines
# carry CUDA 13.0 at /usr/local/bin/nvcc; on a fresh Debian machine, Debian's toolkit (non-free)
# is installed when the archive offers it. Without nvcc the checks skip, saying so, and the build
# ships the committed PTX. Idempotent.
set -euo pipefail
if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  echo "[cuda] nvcc present: $(nvcc --version 2>/dev/null | tail -1 || echo /usr/local/cuda/bin/nvcc)"
  exit 0
fi
apt-get update -qq || true
if apt-cache policy nvidia-cuda-toolkit 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nvidia-cuda-toolkit
else
  echo "[cuda] nvidia-cuda-toolkit not offered (enable Debian non-free or install CUDA): kernel compile checks will skip"
fi
