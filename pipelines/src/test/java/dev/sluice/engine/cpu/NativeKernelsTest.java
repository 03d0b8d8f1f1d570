package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The native VNNI kernels ({@link NativeKernels}) on their own: llama.cpp's numerics for every
 * batch size the engine uses (decode batches 1..17, prefill chunks), any row range, and batch
 * invariance. {@link MatMulTest} runs its whole suite through {@link MatMul#fast} as well, so the
 * native kernels also meet the reference tolerance, the sub-range and the threading tests there.
 */
class NativeKernelsTest {

  private static final String[] QUANTIZED = {"Q8_0", "Q4_0", "Q4_K", "Q6_K"};

  @Test
  void theKernelsRunOnACpuWithVnni() throws IOException {
    Path cpuinfo = Path.of("/proc/cpuinfo");
    assumeTrue(Files.isReadable(cpuinfo), "no /proc/cpuinfo: not Linux");
    String flags = Files.readString(cpuinfo);
    boolean vnni =
        Stream.of(" avx512f ", " avx512bw ", " avx512vl ", " avx512_vnni ", " fma ", " f16c ")
            .allMatch(f -> flags.contains(f) || flags.contains(f.stripTrailing() + "\n"));
    assumeTrue(vnni, "this CPU lacks AVX-512 VNNI: the Vector API kernels run, nothing to check");
    assertThat(NativeKernels.class.getResource("/native/linux-x86_64/libsluicecpu.so"))
        .as("the build packages libsluicecpu.so (gcc must be on the PATH at build time)")
        .isNotNull();
    assertThat(NativeKernels.available()).as(NativeKernels.status()).isTrue();
    assertThat(NativeKernels.status()).startsWith("on (");
  }

  @Test
  void theSwitchesTurnTheKernelsOffAndNameABadValue() {
    assertThat(NativeKernels.disabledBy(null, null)).isNull();
    assertThat(NativeKernels.disabledBy("true", "on")).isNull();
    assertThat(NativeKernels.disabledBy(null, "false")).isEqualTo("SLUICE_NATIVE_KERNELS=false");
    assertThat(NativeKernels.disabledBy(" OFF ", null)).isEqualTo("-Dsluice.engine.native= OFF ");
    assertThat(NativeKernels.disabledBy("yes", "0")).isEqualTo("SLUICE_NATIVE_KERNELS=0");
    assertThat(NativeKernels.disabledBy(null, "flase"))
        .isEqualTo("SLUICE_NATIVE_KERNELS=flase is not one of true, false, on, off, 1, 0, yes, no");
  }

  static Stream<Arguments> typesAndBatches() {
    return Arrays.stream(QUANTIZED)
        .map(GgmlType::valueOf)
        .flatMap(
            t ->
                Stream.concat(IntStream.rangeClosed(1, 17).boxed(), Stream.of(31, 64, 130))
                    .map(n -> Arguments.of(t, n)));
  }

  /**
   * Against a float64 emulation of llama.cpp (activations quantized as ggml does, exact products):
   * agreement to float rounding, on rows wide enough for several super-blocks and an odd row count
   * (13) so that every row-tile tail runs.
   */
  @ParameterizedTest(name = "{0} T={1}")
  @MethodSource("typesAndBatches")
  void followsLlamaCppNumericsForEveryBatchSize(GgmlType type, int batch) {
    assumeTrue(NativeKernels.available(), NativeKernels.status());
    int rows = 13;
    int cols = type.blockSize == 32 ? 896 : 1536;
    GgufTensor w = QuantTestData.random(type, rows, cols, 1000 + type.id);
    float[] x = QuantTestData.gaussian(batch * cols, 31 + batch);
    float[] out = new float[batch * rows];
    NativeKernels.matmul(w, x, batch, out, 0, rows);
    MatMulTest.assertFollowsLlamaCpp(w, x, batch, out);
  }

  /**
   * A token's result does not depend on the batch it runs in nor on the rows asked for: a
   * sequence's logits are the same whoever else shares the step (continuous batching relies on it,
   * and greedy output stays reproducible).
   */
  @ParameterizedTest(name = "{0}")
  @EnumSource(
      value = GgmlType.class,
      names = {"Q8_0", "Q4_0", "Q4_K", "Q6_K"})
  void aTokensResultIsBitIdenticalWhateverTheBatchAndRowRange(GgmlType type) {
    assumeTrue(NativeKernels.available(), NativeKernels.status());
    int rows = 21;
    int cols = type.blockSize == 32 ? 224 : 768;
    GgufTensor w = QuantTestData.random(type, rows, cols, 77 + type.id);
    int batch = 40;
    float[] x = QuantTestData.gaussian(batch * cols, 5);
    float[] all = new float[batch * rows];
    NativeKernels.matmul(w, x, batch, all, 0, rows);
    for (int n : new int[] {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33}) {
      for (int from = 0; from + n <= batch; from += Math.max(1, batch / 3)) {
        float[] xs = Arrays.copyOfRange(x, from * cols, (from + n) * cols);
        float[] part = new float[n * rows];
        Arrays.fill(part, Float.NaN);
        int r0 = n % 3; // start mid-tile
        int r1 = rows - n % 5;
        NativeKernels.matmul(w, xs, n, part, r0, r1);
        for (int t = 0; t < n; t++) {
          for (int r = 0; r < rows; r++) {
            float v = part[t * rows + r];
            if (r < r0 || r >= r1) {
              assertThat(v).as("row %d outside [%d, %d) is untouched", r, r0, r1).isNaN();
            } else {
              assertThat(Float.floatToRawIntBits(v))
                  .as("%s token %d (batch of %d from %d) row %d", type, from + t, n, from, r)
                  .isEqualTo(Float.floatToRawIntBits(all[(from + t) * rows + r]));
            }
          }
        }
      }
    }
  }

  /** All-zero activations (a padded or masked row) give exact zeros, not NaN from a 0/0 scale. */
  @ParameterizedTest(name = "{0}")
  @EnumSource(
      value = GgmlType.class,
      names = {"Q8_0", "Q4_0", "Q4_K", "Q6_K"})
  void zeroActivationsGiveZeros(GgmlType type) {
    assumeTrue(NativeKernels.available(), NativeKernels.status());
    int rows = 9;
    int cols = type.blockSize == 32 ? 64 : 256;
    GgufTensor w = QuantTestData.random(type, rows, cols, 3);
    float[] out = new float[3 * rows];
    Arrays.fill(out, Float.NaN);
    NativeKernels.matmul(w, new float[3 * cols], 3, out, 0, rows);
    for (int i = 0; i < out.length; i++) {
      assertThat(out[i] == 0f).as("%s output %d is %s", type, i, out[i]).isTrue();
    }
  }
}
