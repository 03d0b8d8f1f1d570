#!/usr/bin/env bash
# Run ON THE GPU MACHINE from the repository root: bash bench/gpu-check.sh
# Needs .gpu/ from bench/gpu-prepare.sh (no Java, Maven or network needed there). Prints the GPU,
# runs the @Tag("gpu") tests (kernel differential tests, stories260K, synthetic qwen2 models) and
# the decode/prefill benchmark. Each phase has its own time limit so a hang cannot eat the budget;
# the whole script stays under 5 minutes on an H100. Reports go to $OUT (else .gpu/out).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
G=.gpu
OUT="${OUT:-$G/out}"
mkdir -p "$OUT"
JAVA="$G/jdk/bin/java"
START=$(date +%s)

# The copy may not keep execute bits.
chmod +x "$G"/jdk/bin/* "$G"/jdk/lib/jspawnhelper "$G"/jdk/lib/jexec 2>/dev/null || true
if [[ ! -x "$JAVA" ]]; then
  echo "ERROR: $JAVA missing: run bench/gpu-prepare.sh on a build machine first and carry .gpu" >&2
  exit 2
fi

echo "== nvidia-smi"
timeout 30 nvidia-smi || echo "nvidia-smi failed or absent"
timeout 10 nvidia-smi --query-gpu=name,memory.total,clocks.max.memory,driver_version --format=csv || true
echo "== driver library"
(ldconfig -p 2>/dev/null | grep -E 'libcuda\.so' ) || ls -l /usr/lib/x86_64-linux-gnu/libcuda.so* 2>/dev/null || echo "libcuda not in ldconfig"

CP="$G/test-classes"
for j in "$G"/lib/*.jar; do CP="$CP:$j"; done
FLAGS=(--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx4g
  -Dsluice.data.dir="$G/data" -Dorg.lwjgl.system.SharedLibraryExtractPath="${TMPDIR:-/tmp}/sluice-lwjgl-$$")

echo "== gpu tests"
timeout -k 10 170 "$JAVA" "${FLAGS[@]}" -jar "$G"/console/junit-platform-console-standalone-*.jar execute \
  --class-path "$CP" --select-package dev.sluice.engine.cuda --include-tag gpu --exclude-engine junit-vintage \
  --reports-dir "$OUT/junit" --details=tree --disable-banner --disable-ansi-colors 2>&1 | tee "$OUT/gpu-tests.log"
tests_rc=${PIPESTATUS[0]}
echo "gpu tests exit code: $tests_rc (124 = timed out)"

echo "== benchmark"
left=$(( 285 - ($(date +%s) - START) ))
(( left < 30 )) && left=30
timeout -k 10 "$left" "$JAVA" "${FLAGS[@]}" -cp "$CP" dev.sluice.engine.cuda.CudaBench 2>&1 | tee "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}
echo "benchmark exit code: $bench_rc (124 = timed out)"

if [[ -d "$G/nvml" ]]; then
  echo "== nvml (GPU metrics a node exports, compare with nvidia-smi above)"
  NCP="$G/nvml/classes"
  for j in "$G"/nvml/*.jar; do NCP="$NCP:$j"; done
  timeout -k 5 40 "$JAVA" --enable-native-access=ALL-UNNAMED -cp "$NCP" dev.sluice.node.metrics.NvmlProbe 2>&1 | tee "$OUT/nvml.log"
  echo "nvml probe exit code: ${PIPESTATUS[0]}"
fi

# The comparisons the last changes await (docs/cuda-perf.md, changes 11 and 12): repacked weight
# layout vs gguf, RoPE fused into decode attention vs rope_store.
echo "== layout and fusion comparisons"
grep -E " vs .*ms/step|fell back" "$OUT/bench.log" || echo "(none printed)"
echo "== summary: tests rc=$tests_rc bench rc=$bench_rc, $(( $(date +%s) - START )) s"
[[ $tests_rc -eq 0 && $bench_rc -eq 0 ]]
