#!/usr/bin/env bash
# Installs the official openai npm client (pinned in seed-node/src/test/node/package-lock.json),
# used by OpenAiClientIT (API compatibility) and RealModelIT (real model end to end). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../../seed-node/src/test/node"
if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi
if ! command -v curl >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq curl
fi
if [ -f node_modules/.package-lock.json ] && cmp -s <(node -p 'require("./package-lock.json").packages["node_modules/openai"].version') <(node -p 'require("./node_modules/openai/package.json").version'); then
  echo "openai-client: openai already installed"
else
  npm ci --no-audit --no-fund
fi
node -e 'import("openai").then(() => console.log("openai-client: openai loads"))'
