#!/usr/bin/env bash
# Run HERE (a build machine with JDK 25 and Maven Central): builds the pipelines module and packs
# everything the GPU machine needs into .gpu/ (git-ignored), because that machine has no Java, no
# Maven and no network: a jlink'd JDK 25 runtime, the pipelines jar, its test classes and test
# dependencies, the JUnit console launcher, and stories260K + reference logits from SLUICE_DATA_DIR.
# Then on the GPU machine: bash bench/gpu-check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
G="$ROOT/.gpu"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
DATA="${SLUICE_DATA_DIR:-}"
JUNIT_CONSOLE_VERSION=1.14.1

echo "== build (pipelines, tests compiled, not run)"
./mvnw -q -pl pipelines -am package -DskipTests

rm -rf "$G"
mkdir -p "$G/lib" "$G/console" "$G/data/models"

echo "== test-runtime dependencies"
# Only what dev.sluice.engine.cuda and the engine classes its tests use need (LWJGL, SLF4J +
# Logback, AssertJ): other modules' libraries (Pekko, Scala, tokenizers with native code) would
# overflow the 64 MiB the GPU machine accepts. JUnit itself comes with the console launcher.
./mvnw -q -pl pipelines dependency:copy-dependencies -DincludeScope=test \
  -DoutputDirectory="$G/lib" -DincludeGroupIds=org.lwjgl,org.slf4j,ch.qos.logback,org.assertj
cp pipelines/target/pipelines-*.jar "$G/lib/"
# Only the CUDA tests and benchmark (other packages' test resources can be large), plus any
# top-level test configuration (logback-test.xml).
mkdir -p "$G/test-classes/dev/sluice/engine"
cp -r pipelines/target/test-classes/dev/sluice/engine/cuda "$G/test-classes/dev/sluice/engine/"
find pipelines/target/test-classes -maxdepth 1 -type f -exec cp {} "$G/test-classes/" \;

echo "== JUnit console launcher $JUNIT_CONSOLE_VERSION"
./mvnw -q -N dependency:copy \
  -Dartifact=org.junit.platform:junit-platform-console-standalone:$JUNIT_CONSOLE_VERSION \
  -DoutputDirectory="$G/console"

echo "== jlink runtime"
# java.xml: JUnit's XML reports; jdk.unsupported: LWJGL (sun.misc.Unsafe); java.management and
# java.naming: logback; jdk.incubator.vector: the engine's CPU kernels; jdk.zipfs: JUnit's classpath
# scanning of jars (without it discovery prints ProviderNotFoundException: Provider "jar" not found).
"$JAVA_HOME/bin/jlink" \
  --add-modules java.base,java.logging,java.management,java.naming,java.sql,java.xml,jdk.unsupported,jdk.incubator.vector,jdk.zipfs \
  --strip-java-debug-attributes --strip-native-debug-symbols=exclude-debuginfo-files --no-header-files \
  --no-man-pages --compress=zip-6 \
  --output "$G/jdk"

# The JDK's native libraries carry their symbol tables (libjvm.so alone is ~30 MB): drop them.
if command -v strip >/dev/null; then
  find "$G/jdk" -name '*.so' -exec strip --strip-unneeded {} +
fi
"$G/jdk/bin/java" -version >/dev/null 2>&1 || { echo "ERROR: jlink runtime does not start" >&2; exit 1; }

echo "== data"
if [[ -n "$DATA" && -r "$DATA/models/stories260K.gguf" ]]; then
  cp "$DATA/models/stories260K.gguf" "$DATA/models/stories260K_ref_logits.npy" "$G/data/models/"
else
  echo "WARNING: SLUICE_DATA_DIR/models/stories260K.gguf not found: the stories260K gpu tests will skip"
fi

"$G/jdk/bin/java" -version 2>&1 | head -1
du -sh "$G" "$G"/* | sort -h
size_mb=$(du -sm "$G" | cut -f1)
if (( size_mb > 58 )); then
  echo "ERROR: .gpu is ${size_mb} MiB; the GPU machine accepts 64 MiB with the working tree" >&2
  exit 1
fi
echo "ready: .gpu is ${size_mb} MiB; on the GPU machine run: bash bench/gpu-check.sh"
