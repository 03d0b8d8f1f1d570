package dev.sluice.engine.cuda;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.model.LayerWeights;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.model.RopeType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Models for the CUDA tests: the stories260K reference logits, and synthetic models of any shape
 * and weight type built in off-heap memory with random values (no file needed).
 */
final class TestModels {
  /** BOS, "Once upon a time", then the 39 greedy tokens (models/README.md of the data folder). */
  static final int[] STORIES_TOKENS = {
    1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396,
    267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261,
    370, 432, 352, 266, 268, 388
  };

  private TestModels() {}

  /** The shared data folder, or null when the tests were not given one. */
  static Path dataDir() {
    String d = System.getProperty("sluice.data.dir");
    if (d == null || d.isBlank()) {
      d = System.getenv("SLUICE_DATA_DIR");
    }
    return d == null || d.isBlank() ? null : Path.of(d);
  }

  static Path stories() {
    Path d = dataDir();
    return d == null ? null : d.resolve("models/stories260K.gguf");
  }

  /** A float32 .npy file of shape (rows, cols). */
  static float[][] readNpy(Path p) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
    int headerLen = b.getShort(8) & 0xFFFF;
    String header = new String(b.array(), 10, headerLen, StandardCharsets.US_ASCII);
    if (!header.contains("'<f4'") || header.contains("'fortran_order': True")) {
      throw new IOException(p + ": expected little-endian float32 C-order, header " + header);
    }
    String shape = header.substring(header.indexOf('(') + 1, header.indexOf(')'));
    String[] dims = shape.split(",");
    int rows = Integer.parseInt(dims[0].strip());
    int cols = Integer.parseInt(dims[1].strip());
    b.position(10 + headerLen);
    float[][] out = new float[rows][cols];
    for (float[] r : out) {
      b.asFloatBuffer().get(r);
      b.position(b.position() + 4 * cols);
    }
    return out;
  }

  /** The Qwen2-1.5B shape (the engine benchmark's model). */
  static ModelConfig qwen15b() {
    return new ModelConfig(
        "qwen2",
        1536,
        8960,
        28,
        12,
        2,
        128,
        151936,
        32768,
        1e-6f,
        1e6f,
        128,
        RopeType.NEOX,
        1.0f,
        true);
  }

  /**
   * Random weights of {@code type} (norms and biases F32) for config {@code c}, in {@code arena}.
   * Values are bounded so activations stay finite through the layers. With {@code tile}, one 1 MiB
   * random pattern is repeated (fast enough for billion-parameter shapes; the benchmark only needs
   * realistic bytes, not distinct ones).
   */
  static ModelWeights synthetic(
      ModelConfig c, GgmlType type, Arena arena, long seed, boolean tile) {
    SplittableRandom rnd = new SplittableRandom(seed);
    List<LayerWeights> ls = new ArrayList<>();
    for (int i = 0; i < c.layers(); i++) {
      String p = "blk." + i + ".";
      ls.add(
          new LayerWeights(
              norm(p + "attn_norm.weight", c.dim(), arena, rnd),
              tensor(p + "attn_q.weight", type, c.qDim(), c.dim(), arena, rnd, tile),
              tensor(p + "attn_k.weight", type, c.kvDim(), c.dim(), arena, rnd, tile),
              tensor(p + "attn_v.weight", type, c.kvDim(), c.dim(), arena, rnd, tile),
              tensor(p + "attn_output.weight", type, c.dim(), c.qDim(), arena, rnd, tile),
              c.qkvBias() ? bias(p + "attn_q.bias", c.qDim(), arena, rnd) : null,
              c.qkvBias() ? bias(p + "attn_k.bias", c.kvDim(), arena, rnd) : null,
              c.qkvBias() ? bias(p + "attn_v.bias", c.kvDim(), arena, rnd) : null,
              norm(p + "ffn_norm.weight", c.dim(), arena, rnd),
              tensor(p + "ffn_gate.weight", type, c.hiddenDim(), c.dim(), arena, rnd, tile),
              tensor(p + "ffn_up.weight", type, c.hiddenDim(), c.dim(), arena, rnd, tile),
              tensor(p + "ffn_down.weight", type, c.dim(), c.hiddenDim(), arena, rnd, tile)));
    }
    GgufTensor emb = tensor("token_embd.weight", type, c.vocabSize(), c.dim(), arena, rnd, tile);
    GgufTensor out = tensor("output.weight", type, c.vocabSize(), c.dim(), arena, rnd, tile);
    return new ModelWeights(c, emb, ls, norm("output_norm.weight", c.dim(), arena, rnd), out);
  }

  /** {@code w} with Llama 3.1-style rope frequency divisors (1..8) attached. */
  static ModelWeights withRopeFreqs(ModelWeights w, Arena arena, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int n = w.config().ropeDim() / 2;
    MemorySegment s = arena.allocate(4L * n, 64);
    for (int i = 0; i < n; i++) {
      s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (1 + 7 * rnd.nextDouble()));
    }
    return new ModelWeights(
        w.config(),
        w.tokenEmbedding(),
        w.layers(),
        w.outputNorm(),
        w.output(),
        new GgufTensor("rope_freqs.weight", GgmlType.F32, new long[] {n}, s));
  }

  private static GgufTensor norm(String name, int n, Arena arena, SplittableRandom rnd) {
    MemorySegment s = arena.allocate(4L * n, 64);
    for (int i = 0; i < n; i++) {
      s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (0.8 + 0.4 * rnd.nextDouble()));
    }
    return new GgufTensor(name, GgmlType.F32, new long[] {n}, s);
  }

  private static GgufTensor bias(String name, int n, Arena arena, SplittableRandom rnd) {
    MemorySegment s = arena.allocate(4L * n, 64);
    for (int i = 0; i < n; i++) {
      s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextDouble() - 0.5) * 0.2f);
    }
    return new GgufTensor(name, GgmlType.F32, new long[] {n}, s);
  }

  static GgufTensor tensor(
      String name,
      GgmlType type,
      int rows,
      int cols,
      Arena arena,
      SplittableRandom rnd,
      boolean tile) {
    long bytes = type.bytesFor((long) rows * cols);
    MemorySegment s = arena.allocate(bytes, 64);
    long blocks = bytes / type.typeSize;
    if (!tile || blocks <= 8192) {
      fillRandom(type, s, blocks, rnd);
    } else {
      long patternBlocks = Math.max(1, (1 << 20) / type.typeSize);
      fillRandom(type, s, Math.min(patternBlocks, blocks), rnd);
      long patternBytes = Math.min(patternBlocks, blocks) * type.typeSize;
      for (long off = patternBytes; off < bytes; off += patternBytes) {
        MemorySegment.copy(s, 0, s, off, Math.min(patternBytes, bytes - off));
      }
    }
    return new GgufTensor(name, type, new long[] {cols, rows}, s);
  }

  /** Random but valid blocks: finite scales of a size that keeps values around +-0.1. */
  static void fillRandom(GgmlType type, MemorySegment s, long blocks, SplittableRandom rnd) {
    long n = blocks * type.typeSize;
    for (long i = 0; i + 8 <= n; i += 8) {
      s.set(ValueLayout.JAVA_LONG_UNALIGNED, i, rnd.nextLong());
    }
    for (long i = n & ~7L; i < n; i++) {
      s.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt());
    }
    ValueLayout.OfShort h = ValueLayout.JAVA_SHORT_UNALIGNED;
    for (long b = 0; b < blocks; b++) {
      long o = b * type.typeSize;
      switch (type) {
        case F32 -> s.set(ValueLayout.JAVA_FLOAT_UNALIGNED, o, gauss(rnd));
        case F16 -> s.set(h, o, Float.floatToFloat16(gauss(rnd)));
        case BF16 -> s.set(h, o, (short) (Float.floatToIntBits(gauss(rnd)) >>> 16));
        case Q8_0 -> s.set(h, o, Float.floatToFloat16((float) (0.0008 * rnd.nextDouble())));
        case Q4_0 -> s.set(h, o, Float.floatToFloat16((float) (0.015 * rnd.nextDouble())));
        case Q4_K -> {
          s.set(h, o, Float.floatToFloat16((float) (0.0003 * rnd.nextDouble())));
          s.set(h, o + 2, Float.floatToFloat16((float) (0.0006 * rnd.nextDouble())));
        }
        case Q6_K -> {
          for (int j = 0; j < 16; j++) {
            s.set(ValueLayout.JAVA_BYTE, o + 192 + j, (byte) (rnd.nextInt(33) - 16));
          }
          s.set(h, o + 208, Float.floatToFloat16((float) (0.0004 * rnd.nextDouble())));
        }
      }
    }
  }

  private static float gauss(SplittableRandom rnd) {
    // sum of uniforms: cheap, bounded, roughly normal with sd 0.05
    double u = rnd.nextDouble() + rnd.nextDouble() + rnd.nextDouble() - 1.5;
    return (float) (u * 0.1);
  }
}
