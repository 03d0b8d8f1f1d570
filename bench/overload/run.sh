#!/usr/bin/env bash
# Overload benchmark: seed-node.jar in single-node mode with SIMULATED workers of known capacity
# (dev.sluice.seed.sim.SimulatedWorker; benchmark only), driven open-loop by OverloadBench at
# multiples of the capacity C. Prints a Markdown table (see bench/RESULTS.md).
#
#   bench/overload/run.sh [--workers 2] [--c-per-worker 2000] [--slots 32] [--max-tokens 64] \
#       [--deadline-ms 5000] [--phases 0.7x:30,1x:30,3x:30,10x:30,0.7x:30] [--heap 512m] \
#       [--max-queue-delay D]   (sluice.admission.max-queue-delay; default: the product's, 2s;
#                                0s = no cap)
#
# Run it on an otherwise idle machine: the load generator and the server share its cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
WORKERS=2; C=2000; SLOTS=32; MAX_TOKENS=64; DEADLINE=5000; PHASES="0.7x:30,1x:30,3x:30,10x:30,0.7x:30"; HEAP=512m; QUEUE_DELAY=
PORT="${SLUICE_HTTP_PORT:-18080}"
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS="$2";; --c-per-worker) C="$2";; --slots) SLOTS="$2";;
    --max-tokens) MAX_TOKENS="$2";; --deadline-ms) DEADLINE="$2";; --phases) PHASES="$2";;
    --heap) HEAP="$2";; --max-queue-delay) QUEUE_DELAY="$2";; *) echo "unknown option $1" >&2; exit 2;;
  esac
  shift 2
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  ./mvnw -q -pl bench -am package -DskipTests -Dspotless.check.skip=true
fi
mkdir -p bench/out
SLUICE_HTTP_PORT="$PORT" SLUICE_PORT="${SLUICE_PORT:-25590}" SLUICE_MANAGEMENT_PORT="${SLUICE_MANAGEMENT_PORT:-18558}" \
  "$JAVA_HOME/bin/java" "-Xmx$HEAP" --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  --sun-misc-unsafe-memory-access=allow \
  -Dsluice.worker.simulated.enabled=on -Dsluice.worker.simulated.count="$WORKERS" \
  -Dsluice.worker.simulated.decode-tokens-per-second="$C" \
  -Dsluice.worker.simulated.max-sequences="$SLOTS" \
  ${QUEUE_DELAY:+-Dsluice.admission.max-queue-delay="$QUEUE_DELAY"} \
  -jar seed-node/target/seed-node.jar > bench/out/overload-seed.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if curl -s "http://127.0.0.1:$PORT/v1/models" | grep -q '"sim"'; then break; fi
  sleep 0.5
done
CP="bench/target/classes:$(cat bench/target/classpath.txt)"
"$JAVA_HOME/bin/java" -Xmx1g -cp "$CP" dev.sluice.bench.overload.OverloadBench \
  --url "http://127.0.0.1:$PORT" --model sim --capacity "$((WORKERS * C))" \
  --max-tokens "$MAX_TOKENS" --deadline-ms "$DEADLINE" --phases "$PHASES" --pid "$SERVER"
echo "Server heap limit: -Xmx$HEAP; server log: bench/out/overload-seed.log"
