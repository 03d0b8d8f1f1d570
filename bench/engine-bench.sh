#!/usr/bin/env bash
# Sluice's CPU engine vs llama.cpp (node-llama-cpp) on the same GGUF files and thread count.
# Prints a Markdown table (prefill and decode tokens/s, 1/4/16 sequences, ratio, weight bandwidth).
#
#   SLUICE_DATA_DIR=/path/to/shared/data bench/engine-bench.sh [--threads N] [--models a,b] \
#       [--sequences 1,4,16] [--prompt 128] [--gen 32] [--no-llamacpp]
#
# Run it on an otherwise idle machine: llama.cpp's thread pool spins at barriers, so a busy machine
# makes its multi-threaded numbers collapse (and Sluice's too). Synthetic models are written once
# into bench/out/models (git-ignored; delete a file to rewrite it). The first run of the 1.5B shapes
# spends a few minutes writing ~2 GB of models.
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ ! -d bench/llamacpp/node_modules/node-llama-cpp ]; then
  (cd bench/llamacpp && npm ci --no-audit --no-fund)
fi
./mvnw -q -pl bench -am package -DskipTests -Dspotless.check.skip=true
CP="bench/target/classes:$(cat bench/target/classpath.txt)"
exec "$JAVA_HOME/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -Xmx4g -XX:+UseParallelGC -cp "$CP" dev.sluice.bench.EngineBench "$@"
