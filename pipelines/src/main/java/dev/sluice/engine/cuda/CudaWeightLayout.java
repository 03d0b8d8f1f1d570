package dev.sluice.engine.cuda;

import dev.sluice.engine.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

/**
 * How the CUDA backend lays weight matrices out in device memory.
 *
 * <ul>
 *   <li>{@link #GGUF} (default): every matrix as in the file; the kernels of {@code matmul.cu}.
 *       Verified on an H200 (52 gpu tests, run 3).
 *   <li>{@link #REPACKED}: Q8_0 and Q4_0 matrices whose width is a multiple of {@value #GROUP} are
 *       regrouped at upload so the decode kernels issue 16-byte loads, and F16 matrices of such
 *       widths (already 16-byte friendly: their bytes do not move) run through the same family of
 *       kernels ({@code matmul_repacked.cu}); every other matrix stays as in the file and on {@code
 *       matmul.cu}. Not yet measured on a GPU.
 * </ul>
 *
 * <p>The repacked layout, per row, in groups of 8 ggml blocks (256 weights): the 8 blocks' quants
 * back to back (Q8_0: 8 x 32 int8; Q4_0: 8 x 16 bytes in ggml's nibble order), then the 8 fp16
 * scales. A group is exactly as large as the 8 blocks it replaces (272 / 144 bytes, both multiples
 * of 16), so row sizes and device memory are unchanged and quant chunks stay 16-byte aligned.
 *
 * <p>Selected per model load, by system property {@value #PROPERTY} ({@code gguf} or {@code
 * repacked}) or explicitly through {@code CudaBackend.load(weights, kv, layout)}; an unknown value
 * fails the load with a message naming the property.
 */
public enum CudaWeightLayout {
  /** Every matrix in its GGUF block layout. */
  GGUF,
  /** Q8_0 and Q4_0 (and, unmoved, F16) matrices of width % 256 == 0 on the repacked kernels. */
  REPACKED;

  /** System property that selects the layout: {@code gguf} (default) or {@code repacked}. */
  public static final String PROPERTY = "sluice.cuda.weightLayout";

  /** Weights per repacked group (8 ggml blocks of 32). */
  public static final int GROUP = 256;

  private static final int BLOCKS = GROUP / 32;
  // Groups staged per heap copy while repacking (a few hundred KB).
  private static final int CHUNK_GROUPS = 1024;

  /** The layout {@value #PROPERTY} names, {@link #GGUF} when it is unset. */
  public static CudaWeightLayout fromSystemProperty() {
    return parse(System.getProperty(PROPERTY, "gguf"));
  }

  /** {@code gguf} or {@code repacked} (any case). */
  public static CudaWeightLayout parse(String value) {
    return switch (value.strip().toLowerCase(Locale.ROOT)) {
      case "gguf" -> GGUF;
      case "repacked" -> REPACKED;
      default ->
          throw new IllegalArgumentException(
              PROPERTY + " must be gguf or repacked, got '" + value + "'");
    };
  }

  /** Whether this layout stores a matrix of {@code type} and {@code cols} columns repacked. */
  public boolean repacks(GgmlType type, long cols) {
    return this == REPACKED && supports(type) && cols % GROUP == 0;
  }

  /** Types that have a repacked form (and kernels for it). */
  static boolean supports(GgmlType type) {
    return type == GgmlType.Q8_0
        || type == GgmlType.Q4_0
        || type == GgmlType.F16
        || type == GgmlType.Q4_K;
  }

  /**
   * Whether repacking moves bytes (false for F16 and Q4_K, whose rows are 16-byte friendly already:
   * their repacked form is the GGUF layout, read by the repacked kernels).
   */
  static boolean movesBytes(GgmlType type) {
    return type == GgmlType.Q8_0 || type == GgmlType.Q4_0;
  }

  /** Bytes of one group of 256 weights (8 ggml blocks' worth for Q8_0 and Q4_0). */
  static int groupBytes(GgmlType type) {
    return GROUP / type.blockSize * type.typeSize;
  }

  private static void checkArgs(GgmlType type, MemorySegment src, MemorySegment dst, long groups) {
    if (!supports(type)) {
      throw new IllegalArgumentException(type + " has no repacked layout");
    }
    long bytes = groups * groupBytes(type);
    if (src.byteSize() < bytes || dst.byteSize() < bytes) {
      throw new IllegalArgumentException(
          groups
              + " groups of "
              + type
              + " need "
              + bytes
              + " bytes, got "
              + src.byteSize()
              + " -> "
              + dst.byteSize());
    }
  }

  /**
   * Repacks {@code groups} consecutive groups of 8 ggml blocks from {@code src} (GGUF layout) into
   * {@code dst}. A matrix of {@code rows x cols} (cols % 256 == 0) is {@code rows * cols / 256}
   * groups: groups never straddle rows, so a whole matrix or any run of whole rows repacks alike.
   */
  static void repack(GgmlType type, MemorySegment src, MemorySegment dst, long groups) {
    checkArgs(type, src, dst, groups);
    if (!movesBytes(type)) {
      MemorySegment.copy(src, 0, dst, 0, groups * groupBytes(type));
      return;
    }
    int ts = type.typeSize;
    int qb = ts - 2; // quant bytes per block
    int gb = groupBytes(type);
    byte[] in = new byte[gb * CHUNK_GROUPS];
    byte[] out = new byte[gb * CHUNK_GROUPS];
    for (long g0 = 0; g0 < groups; g0 += CHUNK_GROUPS) {
      int n = (int) Math.min(CHUNK_GROUPS, groups - g0);
      MemorySegment.copy(src, ValueLayout.JAVA_BYTE, g0 * gb, in, 0, n * gb);
      for (int k = 0; k < n; k++) {
        int base = k * gb;
        for (int b = 0; b < BLOCKS; b++) {
          int blk = base + b * ts;
          System.arraycopy(in, blk + 2, out, base + b * qb, qb);
          out[base + BLOCKS * qb + 2 * b] = in[blk];
          out[base + BLOCKS * qb + 2 * b + 1] = in[blk + 1];
        }
      }
      MemorySegment.copy(out, 0, dst, ValueLayout.JAVA_BYTE, g0 * gb, n * gb);
    }
  }

  /** The inverse of {@link #repack}: GGUF blocks back from repacked groups. */
  static void unpack(GgmlType type, MemorySegment src, MemorySegment dst, long groups) {
    checkArgs(type, src, dst, groups);
    if (!movesBytes(type)) {
      MemorySegment.copy(src, 0, dst, 0, groups * groupBytes(type));
      return;
    }
    int ts = type.typeSize;
    int qb = ts - 2;
    int gb = groupBytes(type);
    byte[] in = new byte[gb * CHUNK_GROUPS];
    byte[] out = new byte[gb * CHUNK_GROUPS];
    for (long g0 = 0; g0 < groups; g0 += CHUNK_GROUPS) {
      int n = (int) Math.min(CHUNK_GROUPS, groups - g0);
      MemorySegment.copy(src, ValueLayout.JAVA_BYTE, g0 * gb, in, 0, n * gb);
      for (int k = 0; k < n; k++) {
        int base = k * gb;
        for (int b = 0; b < BLOCKS; b++) {
          int blk = base + b * ts;
          out[blk] = in[base + BLOCKS * qb + 2 * b];
          out[blk + 1] = in[base + BLOCKS * qb + 2 * b + 1];
          System.arraycopy(in, base + b * qb, out, blk + 2, qb);
        }
      }
      MemorySegment.copy(out, 0, dst, ValueLayout.JAVA_BYTE, g0 * gb, n * gb);
    }
  }

  /**
   * Element {@code col} of row {@code row} of a repacked matrix {@code cols} wide, decoded with the
   * address arithmetic of {@code matmul_repacked.cu} (its {@code deq_q8_0_r} / {@code deq_q4_0_r}
   * and the chunk/scale addressing of its dot products): the CPU check of that arithmetic.
   */
  static float element(GgmlType type, MemorySegment packed, long row, int col, int cols) {
    if (!supports(type) || cols % GROUP != 0) {
      throw new IllegalArgumentException(type + " x " + cols + " is not repacked");
    }
    int gb = groupBytes(type);
    long rowBytes = (long) cols / GROUP * gb;
    if (type == GgmlType.F16) {
      return half(packed, row * rowBytes + 2L * col);
    }
    if (type == GgmlType.Q4_K) {
      return q4k(packed, row * rowBytes + (long) (col / GROUP) * gb, col % GROUP);
    }
    long g = row * rowBytes + (long) (col / GROUP) * gb;
    int j = col % GROUP;
    int blk = j / 32;
    int e = j % 32;
    if (type == GgmlType.Q8_0) {
      // chunk i = col / 16 (16 quants): group i / 16, bytes 16 (i % 16), scale (i % 16) / 2
      int chunk = (col / 16) % 16;
      long q = g + chunk * 16L + (j % 16);
      long d = g + 256 + (chunk / 2) * 2L;
      return half(packed, d) * packed.get(ValueLayout.JAVA_BYTE, q);
    }
    // Q4_0: chunk i = col / 32 (a whole block): group i / 8, bytes 16 (i % 8), scale i % 8
    int b = Byte.toUnsignedInt(packed.get(ValueLayout.JAVA_BYTE, g + blk * 16L + (e & 15)));
    int q = e < 16 ? (b & 0xF) : (b >> 4);
    return half(packed, g + 128 + blk * 2L) * (q - 8);
  }

  // Element j of the Q4_K super-block at b (sluice_common.cuh's deq_q4_k).
  private static float q4k(MemorySegment s, long b, int j) {
    int chunk = j / 64;
    int within = j % 64;
    int sub = chunk * 2 + (within >= 32 ? 1 : 0);
    int sc;
    int m;
    if (sub < 4) {
      sc = u8(s, b + 4 + sub) & 63;
      m = u8(s, b + 4 + sub + 4) & 63;
    } else {
      sc = (u8(s, b + 4 + sub + 4) & 0xF) | ((u8(s, b + 4 + sub - 4) >> 6) << 4);
      m = (u8(s, b + 4 + sub + 4) >> 4) | ((u8(s, b + 4 + sub) >> 6) << 4);
    }
    int qb = u8(s, b + 16 + chunk * 32 + within % 32);
    int q = within < 32 ? (qb & 0xF) : (qb >> 4);
    return half(s, b) * sc * q - half(s, b + 2) * m;
  }

  private static int u8(MemorySegment s, long off) {
    return Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, off));
  }

  private static float half(MemorySegment s, long off) {
    return Float.float16ToFloat(s.get(ValueLayout.JAVA_SHORT_UNALIGNED, off));
  }
}
