package dev.sluice.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.engine.gguf.GgmlType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The host's split-K choice for single-token matmuls (no GPU needed). */
class CudaKernelsSplitTest {

  /**
   * Qwen2-1.5B shape, Q8_0, on an H200 (132 SMs): matmul_q8_0 holds 8 blocks per SM (32 registers,
   * 8448 warps), matmul_qkv_q8_0 5 (48 registers, 5280). Each choice is the fewest waves x rounds:
   * qkv and o-proj one wave of one round (split 2; split 4 or 8 would add a wave), down one wave of
   * 3 rounds (split 4; split 8 is 2 waves x 2), gate/up and output unsplit.
   */
  @Test
  void qwen15bShapeSplitsTheNarrowMatrices() {
    GgmlType t = GgmlType.Q8_0;
    assertThat(CudaKernels.splitFor(t, 1536 + 2 * 256, 1536, 5280)).as("qkv").isEqualTo(2);
    assertThat(CudaKernels.splitFor(t, 1536, 1536, 8448)).as("o-proj").isEqualTo(2);
    assertThat(CudaKernels.splitFor(t, 1536, 8960, 8448)).as("down").isEqualTo(4);
    assertThat(CudaKernels.splitFor(t, 8960, 1536, 6336)).as("gate/up").isEqualTo(1);
    assertThat(CudaKernels.splitFor(t, 151936, 1536, 8448)).as("output").isEqualTo(1);
    // a GPU that holds fewer warps: down stays at one wave (split 2, 5 rounds)
    assertThat(CudaKernels.splitFor(t, 1536, 8960, 4224)).as("down, 4224").isEqualTo(2);
    // the default assumes 5 blocks of 8 warps on 132 SMs
    assertThat(CudaKernels.splitFor(t, 1536, 1536)).isEqualTo(2);
  }

  /**
   * Repacked Q8_0 (matmul_repacked.cu: 2048 columns per warp per round, parts of whole 256-weight
   * groups) on the 1.5B shape with 4 blocks of 8 warps per SM (56 registers): qkv, o-proj and
   * gate/up are one round per row unsplit; down is split 2 (one wave of 3 rounds, not one of 5).
   */
  @Test
  void repackedQwen15bShape() {
    GgmlType t = GgmlType.Q8_0;
    int resident = 132 * 4 * 8;
    assertThat(CudaKernels.colsPerRound(t, true)).isEqualTo(2048);
    assertThat(CudaKernels.colsPerRound(GgmlType.Q4_0, true)).isEqualTo(4096);
    assertThat(CudaKernels.colsPerRound(t, false)).isEqualTo(1024);
    assertThat(CudaKernels.splitFor(t, true, 1536 + 2 * 256, 1536, resident)).as("qkv").isOne();
    assertThat(CudaKernels.splitFor(t, true, 1536, 1536, resident)).as("o-proj").isOne();
    assertThat(CudaKernels.splitFor(t, true, 1536, 8960, resident)).as("down").isEqualTo(2);
    assertThat(CudaKernels.splitFor(t, true, 8960, 1536, resident)).as("gate/up").isOne();
    // parts are whole groups: 2304 = 9 groups, at most 8 parts of >= 1 group
    for (int rows : new int[] {1, 67, 1536}) {
      int s = CudaKernels.splitFor(t, true, rows, 2304, resident);
      assertThat(s).isIn(1, 2, 4, 8);
      assertThat(9).isGreaterThanOrEqualTo(s);
    }
    // F16 on the repacked kernels: 6 chunks of 8 per lane, 1536 columns per round
    assertThat(CudaKernels.colsPerRound(GgmlType.F16, true)).isEqualTo(1536);
    assertThat(CudaKernels.splitFor(GgmlType.F16, true, 1536, 1536, 5280)).as("F16 o-proj").isOne();
    assertThat(CudaKernels.splitFor(GgmlType.F16, true, 1536, 8960, 5280))
        .as("F16 down")
        .isEqualTo(2);
    // Q4_K: 4 chunks of 32 weights per lane; down at 3 blocks of 8 warps per SM (70 registers)
    assertThat(CudaKernels.colsPerRound(GgmlType.Q4_K, true)).isEqualTo(4096);
    assertThat(CudaKernels.splitFor(GgmlType.Q4_K, true, 1536, 8960, 3168))
        .as("Q4_K down")
        .isEqualTo(2);
    // the GGUF choice is unchanged by the overload
    assertThat(CudaKernels.splitFor(t, false, 1536, 8960, 8448)).isEqualTo(4);
  }

  @ParameterizedTest
  @EnumSource(GgmlType.class)
  void splitsAreValidForEveryType(GgmlType t) {
    for (int cols : new int[] {256, 512, 1536, 2304, 8960}) {
      if (cols % t.blockSize != 0) {
        continue;
      }
      for (int rows : new int[] {1, 67, 1536, 20000}) {
        int s = CudaKernels.splitFor(t, rows, cols);
        assertThat(s).as(t + " " + rows + "x" + cols).isIn(1, 2, 4, 8);
        if (s > 1) {
          assertThat(cols / s).as("columns per part").isGreaterThanOrEqualTo(128);
          assertThat((long) rows * s).as("warps").isLessThanOrEqualTo(12288);
        }
      }
    }
    // widths that are not whole 16-byte vectors run unsplit (scalar tails)
    if (t == GgmlType.F16 || t == GgmlType.BF16) {
      assertThat(CudaKernels.splitFor(t, 67, 1772)).isEqualTo(1);
    }
  }

  /**
   * Flash-decoding split choice (1.5B shape, H200: 132 SMs, 264 target blocks): 1 when tokens x
   * heads fill the target, else up to 64 splits.
   */
  @Test
  void attentionSplitChoice() {
    assertThat(CudaKernels.attentionSplits(1, 12, 264)).isEqualTo(22);
    assertThat(CudaKernels.attentionSplits(1, 2, 264)).isEqualTo(64);
    assertThat(CudaKernels.attentionSplits(16, 12, 264)).isEqualTo(1);
    assertThat(CudaKernels.attentionSplits(11, 12, 264)).isEqualTo(2);
    assertThat(CudaKernels.attentionPartialFloats(1, 12, 128, 22)).isEqualTo(12L * 22 * 130);
    assertThat(CudaKernels.attentionPartialFloats(16, 12, 128, 1)).isZero();
    for (int t = 1; t <= 300; t++) {
      int s = CudaKernels.attentionSplits(t, 12, 264);
      // the runner's scratch holds 2 x 264 (token, head, split) partials (none used when s = 1)
      if (s > 1) {
        assertThat((long) t * 12 * s).isLessThanOrEqualTo(2L * 264);
      }
      assertThat(s).isBetween(1, CudaKernels.MAX_ATTENTION_SPLITS);
    }
  }

  @Test
  void fusedNormFitsSharedMemory() {
    assertThat(CudaKernels.canFuseNorm(1536)).isTrue();
    assertThat(CudaKernels.canFuseNorm(12288)).isTrue();
    assertThat(CudaKernels.canFuseNorm(12289)).isFalse();
  }
}
