package dev.sluice.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.io.DataOutputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The repacked weight layout without a GPU: repacking is lossless and size-preserving, the kernels'
 * address arithmetic (transcribed in {@link CudaWeightLayout#element}) decodes what ggml decodes,
 * and matmul_repacked.cu's own dot products, compiled for the host with nvcc, agree with ggml on
 * matrices this class repacked (skips, saying so, without nvcc).
 */
class CudaWeightLayoutTest {

  @ParameterizedTest
  @EnumSource(
      value = GgmlType.class,
      names = {"Q8_0", "Q4_0", "F16", "Q4_K"})
  void repackThenUnpackGivesTheOriginalBytes(GgmlType type) {
    // 1100 rows x 256 = 1100 groups: more than one staging chunk (1024 groups)
    for (int[] shape : new int[][] {{3, 256}, {5, 1536}, {1100, 256}, {2, 8960}}) {
      int rows = shape[0];
      int cols = shape[1];
      try (Arena arena = Arena.ofConfined()) {
        GgufTensor t =
            TestModels.tensor("w", type, rows, cols, arena, new SplittableRandom(9), false);
        long bytes = t.data().byteSize();
        long groups = (long) rows * cols / CudaWeightLayout.GROUP;
        assertThat(groups * CudaWeightLayout.groupBytes(type)).as("same size").isEqualTo(bytes);
        MemorySegment packed = arena.allocate(bytes, 16);
        MemorySegment back = arena.allocate(bytes, 16);
        CudaWeightLayout.repack(type, t.data(), packed, groups);
        if (CudaWeightLayout.movesBytes(type)) {
          assertThat(packed.mismatch(t.data())).as("repacking moves bytes").isNotEqualTo(-1L);
        }
        CudaWeightLayout.unpack(type, packed, back, groups);
        assertThat(back.mismatch(t.data()))
            .as(type + " " + rows + "x" + cols + " round trip")
            .isEqualTo(-1L);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = GgmlType.class,
      names = {"Q8_0", "Q4_0", "F16", "Q4_K"})
  void kernelAddressingDecodesWhatGgmlDecodes(GgmlType type) {
    int rows = 7;
    for (int cols : new int[] {256, 1536, 2304}) {
      try (Arena arena = Arena.ofConfined()) {
        GgufTensor t =
            TestModels.tensor("w", type, rows, cols, arena, new SplittableRandom(cols), false);
        MemorySegment packed = arena.allocate(t.data().byteSize(), 16);
        CudaWeightLayout.repack(
            type, t.data(), packed, (long) rows * cols / CudaWeightLayout.GROUP);
        for (int r = 0; r < rows; r++) {
          float[] want = Dequant.row(type, t.data(), r, cols);
          for (int c = 0; c < cols; c++) {
            float got = CudaWeightLayout.element(type, packed, r, c, cols);
            assertThat(got).as(type + " " + cols + " row " + r + " col " + c).isEqualTo(want[c]);
          }
        }
        // quant chunks are 16-byte aligned: every group starts at a multiple of 16
        assertThat(CudaWeightLayout.groupBytes(type) % 16).isZero();
      }
    }
  }

  @Test
  void selectionAndWhatGetsRepacked() {
    assertThat(CudaWeightLayout.parse("gguf")).isEqualTo(CudaWeightLayout.GGUF);
    assertThat(CudaWeightLayout.parse(" Repacked ")).isEqualTo(CudaWeightLayout.REPACKED);
    assertThatThrownBy(() -> CudaWeightLayout.parse("packed"))
        .hasMessageContaining(CudaWeightLayout.PROPERTY)
        .hasMessageContaining("packed");
    String old = System.getProperty(CudaWeightLayout.PROPERTY);
    try {
      System.clearProperty(CudaWeightLayout.PROPERTY);
      assertThat(CudaWeightLayout.fromSystemProperty()).isEqualTo(CudaWeightLayout.GGUF);
      System.setProperty(CudaWeightLayout.PROPERTY, "repacked");
      assertThat(CudaWeightLayout.fromSystemProperty()).isEqualTo(CudaWeightLayout.REPACKED);
    } finally {
      if (old == null) {
        System.clearProperty(CudaWeightLayout.PROPERTY);
      } else {
        System.setProperty(CudaWeightLayout.PROPERTY, old);
      }
    }
    CudaWeightLayout r = CudaWeightLayout.REPACKED;
    assertThat(r.repacks(GgmlType.Q8_0, 1536)).isTrue();
    assertThat(r.repacks(GgmlType.Q4_0, 8960)).isTrue();
    assertThat(r.repacks(GgmlType.Q8_0, 896)).as("Qwen2-0.5B width: not whole groups").isFalse();
    assertThat(r.repacks(GgmlType.F16, 1536)).as("F16: same bytes, repacked kernels").isTrue();
    assertThat(CudaWeightLayout.movesBytes(GgmlType.F16)).isFalse();
    assertThat(r.repacks(GgmlType.BF16, 1536)).isFalse();
    assertThat(r.repacks(GgmlType.Q4_K, 1536)).as("Q4_K: same bytes, repacked kernels").isTrue();
    assertThat(r.repacks(GgmlType.Q6_K, 1536)).isFalse();
    assertThat(CudaWeightLayout.GGUF.repacks(GgmlType.Q8_0, 1536)).isFalse();
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment s = arena.allocate(1000);
      assertThatThrownBy(() -> CudaWeightLayout.repack(GgmlType.Q6_K, s, s, 1))
          .hasMessageContaining("Q6_K");
      assertThatThrownBy(() -> CudaWeightLayout.repack(GgmlType.Q8_0, s, s, 4))
          .hasMessageContaining("need 1088 bytes");
    }
  }

  /**
   * Repacked single-token split-K parts, two-row gate/up and batched dot products of
   * matmul_repacked.cu, compiled for the host, on matrices repacked here, against ggml's decoding
   * of the original blocks.
   */
  @Test
  void repackedKernelsAgreeWithGgmlOnTheHost(@TempDir Path tmp) throws Exception {
    String nvcc = CudaKernelSourcesTest.nvcc();
    assumeTrue(nvcc != null, "nvcc not installed: host check of matmul_repacked.cu skipped");
    Path exe = tmp.resolve("repacked");
    CudaKernelSourcesTest.run(
        List.of(
            nvcc,
            "-std=c++17",
            "-I" + Path.of("src/main/cuda").toAbsolutePath(),
            "-o",
            exe.toString(),
            Path.of("src/test/cuda/repacked_host_test.cu").toAbsolutePath().toString()),
        tmp);
    Path cases = tmp.resolve("cases.bin");
    try (Arena arena = Arena.ofConfined();
        OutputStream out = Files.newOutputStream(cases);
        DataOutputStream d = new DataOutputStream(out)) {
      for (GgmlType type : List.of(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.F16, GgmlType.Q4_K)) {
        // 2304 = 9 groups: uneven split-K parts; 8960: the FFN width
        for (int cols : new int[] {256, 1536, 2304, 8960}) {
          int rows = 3;
          GgufTensor t =
              TestModels.tensor(
                  "w", type, rows, cols, arena, new SplittableRandom(cols + 1), false);
          MemorySegment packed = arena.allocate(t.data().byteSize(), 16);
          CudaWeightLayout.repack(
              type, t.data(), packed, (long) rows * cols / CudaWeightLayout.GROUP);
          ByteBuffer h = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
          h.putInt(type.id).putInt(rows).putInt(cols);
          d.write(h.array());
          d.write(t.data().toArray(ValueLayout.JAVA_BYTE));
          d.write(packed.toArray(ValueLayout.JAVA_BYTE));
        }
      }
    }
    assertThat(CudaKernelSourcesTest.run(List.of(exe.toString(), cases.toString()), tmp))
        .contains("OK 16 cases");
  }
}
