#!/usr/bin/env bash
# The cluster's own cost: generated tokens/s through the HTTP gateway + cluster (seed-node.jar in
# single-node mode, one CPU worker) versus the same engine called directly in-process, on the same
# model, thread count, concurrency, prompt and greedy max_tokens. Prints a Markdown table.
#
#   bench/cluster-cost.sh [--model PATH] [--threads T] [--concurrency 1,4] [--seconds 20] [--rounds 3] \
#       [--warmup 30] [--max-tokens 64] [--max-seq-len 2048] [--prompt TEXT] [--heap 1g]
#
# Default model: $SLUICE_DATA_DIR/models/stories260K.gguf, too small for a meaningful rate; prefer
# bench/out/models/stories15M-q8_0.gguf (written by bench/engine-bench.sh). Run it on an otherwise
# idle machine: the HTTP clients, the gateway and the engine share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  ./mvnw -q -pl bench,seed-node -am package -DskipTests -Dspotless.check.skip=true
fi
CP="bench/target/classes:$(cat bench/target/classpath.txt)"
exec "$JAVA_HOME/bin/java" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -Xmx2g -XX:+UseParallelGC -cp "$CP" dev.sluice.bench.ClusterCostBench "$@"
