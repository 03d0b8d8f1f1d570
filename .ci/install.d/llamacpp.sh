#!/usr/bin/env bash
# Installs llama.cpp for the CPU (npm package node-llama-cpp, pinned in bench/llamacpp/package-lock.json),
# the reference engine of the parity tests (LlamaCppParityTest) and of bench/engine-bench.sh.
# Idempotent: skips the install when node_modules already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/../../bench/llamacpp"
if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "llamacpp: node-llama-cpp 3.21.1 needs Node.js >= 20, found $(node --version)" >&2
  exit 1
fi
if [ -f node_modules/.package-lock.json ] && cmp -s <(node -p 'require("./package-lock.json").packages["node_modules/node-llama-cpp"].version') <(node -p 'require("./node_modules/node-llama-cpp/package.json").version'); then
  echo "llamacpp: node-llama-cpp already installed"
else
  # The prebuilt CPU binaries come with the package (@node-llama-cpp/linux-x64); its postinstall
  # step must not try to download or build llama.cpp, which the scripts never use (build: "never").
  NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund
fi
node -e 'import("node-llama-cpp").then(() => console.log("llamacpp: node-llama-cpp loads"))'
