package dev.sluice.engine.cpu;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * F32-only stand-in for {@code MatMul} (written on the kernels branch) so that the backends can be
 * built and tested before it lands. Same contract as {@code MatMul.reference}.
 */
final class InterimMatMul {
  private static final ValueLayout.OfFloat F32 =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private InterimMatMul() {}

  static void reference(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    requireF32(w);
    int cols = w.cols();
    int rows = w.rows();
    for (int r = r0; r < r1; r++) {
      long base = (long) r * cols * 4;
      for (int t = 0; t < T; t++) {
        float sum = 0;
        for (int c = 0; c < cols; c++) {
          sum += w.data().get(F32, base + 4L * c) * x[t * cols + c];
        }
        out[t * rows + r] = sum;
      }
    }
  }

  static void fast(GgufTensor w, float[] x, int T, float[] out, int r0, int r1) {
    reference(w, x, T, out, r0, r1);
  }

  static void dequantizeRow(GgufTensor w, int row, float[] out, int off) {
    requireF32(w);
    int cols = w.cols();
    for (int c = 0; c < cols; c++) {
      out[off + c] = w.data().get(F32, ((long) row * cols + c) * 4);
    }
  }

  private static void requireF32(GgufTensor w) {
    if (w.type() != GgmlType.F32) {
      throw new IllegalArgumentException(
          "tensor " + w.name() + ": type " + w.type() + " needs the kernels branch's MatMul");
    }
  }
}
