package dev.sluice.engine.cuda;

import static dev.sluice.engine.cuda.GpuAssert.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.model.RopeType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Differential tests of every CUDA kernel against the scalar references ({@link Dequant}, {@link
 * ReferenceModel}) on random inputs. Needs an NVIDIA GPU: tagged {@code gpu}.
 */
@Tag("gpu")
class CudaKernelsGpuTest {
  private static CudaBackend backend;
  private static CudaKernels k;
  private final Random rnd = new Random(42);
  private final List<Long> allocations = new ArrayList<>();

  @BeforeAll
  static void open() {
    GpuAssert.requireCuda();
    backend = new CudaBackend(0);
    k = backend.kernels;
    System.out.println("[gpu] " + backend.device() + ", PTX " + backend.ptxVariant());
  }

  @AfterAll
  static void close() {
    if (backend != null) {
      backend.close();
    }
  }

  @AfterEach
  void freeBuffers() {
    backend.sync();
    for (long p : allocations) {
      backend.free(p);
    }
    allocations.clear();
  }

  private float[] random(int n, double scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
    }
    return v;
  }

  private long dev(float[] v) {
    long p = backend.upload(v);
    allocations.add(p);
    return p;
  }

  private long dev(int[] v) {
    long p = backend.upload(v);
    allocations.add(p);
    return p;
  }

  private long devZeros(long floats) {
    return dev(new float[(int) floats]);
  }

  private float[] get(long p, int n) {
    return backend.downloadFloats(p, n);
  }

  /**
   * Every weight type in the GGUF layout, then the types with a repacked form in {@link
   * CudaWeightLayout#REPACKED}'s (kernels of matmul_repacked.cu).
   */
  static Stream<Arguments> typesAndLayouts() {
    Stream<Arguments> gguf =
        Arrays.stream(GgmlType.values()).map(t -> Arguments.of(t, CudaWeightLayout.GGUF));
    Stream<Arguments> repacked =
        Arrays.stream(GgmlType.values())
            .filter(CudaWeightLayout::supports)
            .map(t -> Arguments.of(t, CudaWeightLayout.REPACKED));
    return Stream.concat(gguf, repacked);
  }

  /** Uploads a weight tensor, repacked on the host first when {@code layout} repacks it. */
  private long uploadWeights(GgufTensor w, int cols, CudaWeightLayout layout) {
    long d = backend.alloc(w.data().byteSize());
    allocations.add(d);
    if (layout.repacks(w.type(), cols)) {
      try (Arena a = Arena.ofConfined()) {
        MemorySegment packed = a.allocate(w.data().byteSize(), 16);
        CudaWeightLayout.repack(
            w.type(),
            w.data(),
            packed,
            w.data().byteSize() / CudaWeightLayout.groupBytes(w.type()));
        backend.upload(d, packed);
      }
    } else {
      backend.upload(d, w.data());
    }
    return d;
  }

  @Test
  void rmsnorm() {
    int rows = 3;
    int dim = 1000;
    float[] x = random(rows * dim, 2);
    float[] w = random(dim, 1);
    long dx = dev(x);
    long dout = devZeros(rows * dim);
    k.rmsnorm(dx, dev(w), dout, dim, 1e-5f, rows);
    float[] expect = new float[rows * dim];
    for (int r = 0; r < rows; r++) {
      float[] o = ReferenceModel.rmsnorm(Arrays.copyOfRange(x, r * dim, (r + 1) * dim), w, 1e-5f);
      System.arraycopy(o, 0, expect, r * dim, dim);
    }
    assertClose("rmsnorm", get(dout, rows * dim), expect, 1e-5, 1e-5);
    k.rmsnorm(dx, dev(w), dx, dim, 1e-5f, rows); // in place, as the output norm runs
    assertClose("rmsnorm in place", get(dx, rows * dim), expect, 1e-5, 1e-5);
  }

  @ParameterizedTest
  @EnumSource(RopeType.class)
  void ropeAndCacheStore(RopeType type) {
    for (int variant = 0; variant < 3; variant++) {
      int ropeDim = variant == 1 ? 32 : 64;
      float[] factors = null;
      if (variant == 2) { // Llama 3.1 frequency divisors
        factors = new float[ropeDim / 2];
        for (int i = 0; i < factors.length; i++) {
          factors[i] = 1 + 7 * rnd.nextFloat();
        }
      }
      int heads = 4;
      int kvHeads = 2;
      int headDim = 64;
      int[] pos = {0, 7, 100};
      int[] slot = {5, 0, 11};
      int tokens = pos.length;
      int kvDim = kvHeads * headDim;
      float[] q = random(tokens * heads * headDim, 1);
      float[] kk = random(tokens * kvDim, 1);
      float[] v = random(tokens * kvDim, 1);
      long dq = dev(q);
      long dk = dev(kk);
      long dv = dev(v);
      long kc = devZeros(12L * kvDim);
      long vc = devZeros(12L * kvDim);
      float theta = 10000f;
      k.ropeStore(
          dq,
          dk,
          dv,
          kc,
          vc,
          dev(pos),
          dev(slot),
          heads,
          kvHeads,
          headDim,
          ropeDim,
          theta,
          1.0f,
          type == RopeType.NEOX,
          factors == null ? 0 : dev(factors),
          tokens);
      float[] gotQ = get(dq, q.length);
      float[] gotKc = get(kc, 12 * kvDim);
      float[] gotVc = get(vc, 12 * kvDim);
      for (int t = 0; t < tokens; t++) {
        float[] qt = Arrays.copyOfRange(q, t * heads * headDim, (t + 1) * heads * headDim);
        float[] kt = Arrays.copyOfRange(kk, t * kvDim, (t + 1) * kvDim);
        ReferenceModel.rope(qt, heads, headDim, ropeDim, pos[t], theta, type, factors);
        ReferenceModel.rope(kt, kvHeads, headDim, ropeDim, pos[t], theta, type, factors);
        String what =
            type
                + " ropeDim "
                + ropeDim
                + (factors != null ? " with rope_freqs" : "")
                + " token "
                + t;
        assertClose(
            what + " q",
            Arrays.copyOfRange(gotQ, t * heads * headDim, (t + 1) * heads * headDim),
            qt,
            1e-4,
            1e-4);
        assertClose(
            what + " k in cache",
            Arrays.copyOfRange(gotKc, slot[t] * kvDim, (slot[t] + 1) * kvDim),
            kt,
            1e-4,
            1e-4);
        assertClose(
            what + " v in cache",
            Arrays.copyOfRange(gotVc, slot[t] * kvDim, (slot[t] + 1) * kvDim),
            Arrays.copyOfRange(v, t * kvDim, (t + 1) * kvDim),
            0,
            0);
      }
    }
  }

  /**
   * Paged, grouped-query, several sequences, decode and prefill tokens in one launch; the
   * single-block kernel and flash-decoding with several split counts (each launched twice: the
   * merging block must leave its counter at zero), up to position 699 over 175 blocks.
   */
  @Test
  void attentionOverPagedBlocks() {
    for (int headDim : new int[] {8, 64, 128, 256}) {
      int heads = headDim == 128 ? 12 : 8;
      int kvHeads = 2;
      int blockSize = 4;
      int numBlocks = 240;
      int maxBlocks = 180;
      int kvDim = kvHeads * headDim;
      float[] kc = random(numBlocks * blockSize * kvDim, 1);
      float[] vc = random(numBlocks * blockSize * kvDim, 1);
      // seq 0: 10 positions in blocks 5, 2, 9; seq 1: 6 in blocks 1, 7; seq 2: 117 in 30 blocks;
      // seq 3: 700 in 175 blocks (60..234, interleaved)
      int[][] blocks = {{5, 2, 9}, {1, 7}, new int[30], new int[175]};
      for (int i = 0; i < 30; i++) {
        blocks[2][i] = 39 - i;
      }
      for (int i = 0; i < 175; i++) {
        blocks[3][i] = 60 + (i * 37) % 175;
      }
      int[] table = new int[blocks.length * maxBlocks];
      Arrays.fill(table, -1);
      for (int s = 0; s < blocks.length; s++) {
        System.arraycopy(blocks[s], 0, table, s * maxBlocks, blocks[s].length);
      }
      // tokens: seq 0 positions 7, 8, 9 (a prefill chunk); seq 1 position 5; seq 2 position 116;
      // seq 3 positions 697..699 (a chunk) and, as a decode step alone, 699
      int[] tokSeq = {0, 0, 0, 1, 2, 3, 3, 3};
      int[] tokPos = {7, 8, 9, 5, 116, 697, 698, 699};
      int tokens = tokSeq.length;
      float[] q = random(tokens * heads * headDim, 1);
      float scale = (float) (1 / Math.sqrt(headDim));
      float[][] expect = new float[tokens][];
      for (int t = 0; t < tokens; t++) {
        List<float[]> keys = new ArrayList<>();
        List<float[]> values = new ArrayList<>();
        for (int p = 0; p <= tokPos[t]; p++) {
          int slot = blocks[tokSeq[t]][p / blockSize] * blockSize + p % blockSize;
          keys.add(Arrays.copyOfRange(kc, slot * kvDim, (slot + 1) * kvDim));
          values.add(Arrays.copyOfRange(vc, slot * kvDim, (slot + 1) * kvDim));
        }
        expect[t] =
            ReferenceModel.attention(
                Arrays.copyOfRange(q, t * heads * headDim, (t + 1) * heads * headDim),
                keys,
                values,
                heads,
                kvHeads,
                headDim);
      }
      long dq = dev(q);
      long dkc = dev(kc);
      long dvc = dev(vc);
      long dSeq = dev(tokSeq);
      long dPos = dev(tokPos);
      long dTable = dev(table);
      for (int splits : new int[] {1, 2, 7, 64}) {
        // all tokens in one launch, then the last one (decode at 699) alone
        for (int first : new int[] {0, tokens - 1}) {
          int n = tokens - first;
          long partials =
              devZeros(Math.max(1, CudaKernels.attentionPartialFloats(n, heads, headDim, splits)));
          long counters = dev(new int[n * heads]);
          float[] nan = new float[n * heads * headDim];
          Arrays.fill(nan, Float.NaN);
          long out = dev(nan); // poisoned: every element must be written
          for (int rep = 0; rep < 2; rep++) {
            k.attention(
                dq + 4L * first * heads * headDim,
                dkc,
                dvc,
                out,
                dSeq + 4L * first,
                dPos + 4L * first,
                dTable,
                maxBlocks,
                blockSize,
                heads,
                kvHeads,
                headDim,
                scale,
                n,
                splits,
                partials,
                counters);
            float[] got = get(out, n * heads * headDim);
            for (int t = 0; t < n; t++) {
              assertClose(
                  "attention headDim "
                      + headDim
                      + " splits "
                      + splits
                      + " launch "
                      + rep
                      + " token "
                      + (first + t)
                      + " (position "
                      + tokPos[first + t]
                      + ")",
                  Arrays.copyOfRange(got, t * heads * headDim, (t + 1) * heads * headDim),
                  expect[first + t],
                  2e-5,
                  1e-4);
            }
          }
          assertThat(backend.downloadInts(counters, n * heads))
              .as("counters left at zero, splits " + splits)
              .containsOnly(0);
        }
      }
    }
  }

  /**
   * Decode attention with RoPE and the KV store fused in (attention_rope_split) gives what
   * rope_store followed by attention gives: the outputs, and the rotated k and the v stored in
   * every KV head's cache slot. Three sequences of one token each at positions 0, 116 and 699 over
   * scattered blocks; NORM and NEOX, partial rotary dims with Llama 3.1 frequency factors, the 1.5B
   * head shape; several split counts, each launched twice (counters back at zero).
   */
  @ParameterizedTest
  @EnumSource(RopeType.class)
  void ropeFusedIntoDecodeAttention(RopeType ropeType) {
    for (int variant = 0; variant < 2; variant++) {
      int heads = variant == 0 ? 12 : 8;
      int kvHeads = 2;
      int headDim = variant == 0 ? 128 : 64;
      int ropeDim = variant == 0 ? 128 : 32;
      float[] factors = null;
      if (variant == 1) {
        factors = new float[ropeDim / 2];
        for (int i = 0; i < factors.length; i++) {
          factors[i] = 1 + 7 * rnd.nextFloat();
        }
      }
      int blockSize = 4;
      int numBlocks = 240;
      int maxBlocks = 180;
      int kvDim = kvHeads * headDim;
      int[][] blocks = {{5}, new int[30], new int[175]};
      for (int i = 0; i < 30; i++) {
        blocks[1][i] = 39 - i;
      }
      for (int i = 0; i < 175; i++) {
        blocks[2][i] = 60 + (i * 37) % 175;
      }
      int[] table = new int[blocks.length * maxBlocks];
      Arrays.fill(table, -1);
      for (int s = 0; s < blocks.length; s++) {
        System.arraycopy(blocks[s], 0, table, s * maxBlocks, blocks[s].length);
      }
      int[] tokSeq = {0, 1, 2};
      int[] tokPos = {0, 116, 699};
      int tokens = tokSeq.length;
      int[] tokSlot = new int[tokens];
      for (int t = 0; t < tokens; t++) {
        int p = tokPos[t];
        tokSlot[t] = blocks[tokSeq[t]][p / blockSize] * blockSize + p % blockSize;
      }
      float[] kc = random(numBlocks * blockSize * kvDim, 1);
      float[] vc = random(numBlocks * blockSize * kvDim, 1);
      float[] q = random(tokens * heads * headDim, 1);
      float[] kNew = random(tokens * kvDim, 1);
      float[] vNew = random(tokens * kvDim, 1);
      float scale = (float) (1 / Math.sqrt(headDim));
      float theta = 10000f;
      boolean neox = ropeType == RopeType.NEOX;
      long dSeq = dev(tokSeq);
      long dPos = dev(tokPos);
      long dSlot = dev(tokSlot);
      long dTable = dev(table);
      long dFactors = factors == null ? 0 : dev(factors);
      // expected: rope_store, then attention (single-block kernel), on copies
      long eq = dev(q);
      long ek = dev(kNew);
      long ekc = dev(kc);
      long evc = dev(vc);
      long eOut = devZeros((long) tokens * heads * headDim);
      k.ropeStore(
          eq, ek, dev(vNew), ekc, evc, dPos, dSlot, heads, kvHeads, headDim, ropeDim, theta, 1f,
          neox, dFactors, tokens);
      k.attention(
          eq, ekc, evc, eOut, dSeq, dPos, dTable, maxBlocks, blockSize, heads, kvHeads, headDim,
          scale, tokens);
      float[] wantOut = get(eOut, tokens * heads * headDim);
      float[] wantKc = get(ekc, kc.length);
      float[] wantVc = get(evc, vc.length);
      long dq = dev(q);
      long dk = dev(kNew);
      long dv = dev(vNew);
      for (int splits : new int[] {2, 7, 22, 64}) {
        long gkc = dev(kc);
        long gvc = dev(vc);
        long partials =
            devZeros(CudaKernels.attentionPartialFloats(tokens, heads, headDim, splits));
        long counters = dev(new int[tokens * heads]);
        for (int rep = 0; rep < 2; rep++) {
          float[] nan = new float[tokens * heads * headDim];
          Arrays.fill(nan, Float.NaN);
          long out = dev(nan);
          k.attentionRope(
              dq, dk, dv, gkc, gvc, out, dSeq, dPos, dSlot, dTable, maxBlocks, blockSize, heads,
              kvHeads, headDim, scale, ropeDim, theta, 1f, neox, dFactors, tokens, splits, partials,
              counters);
          String what =
              ropeType
                  + " heads "
                  + heads
                  + " headDim "
                  + headDim
                  + " ropeDim "
                  + ropeDim
                  + " splits "
                  + splits
                  + " launch "
                  + rep;
          assertClose(what + " output", get(out, tokens * heads * headDim), wantOut, 2e-5, 1e-4);
          assertClose(what + " k cache", get(gkc, kc.length), wantKc, 1e-6, 1e-5);
          assertClose(what + " v cache", get(gvc, vc.length), wantVc, 0, 0);
          assertThat(backend.downloadInts(counters, tokens * heads))
              .as("counters left at zero, " + what)
              .containsOnly(0);
        }
        assertClose("raw q left as it was", get(dq, q.length), q, 0, 0);
      }
    }
  }

  @Test
  void swigluSoftmaxAddBiasGatherArgmax() {
    int n = 5000;
    float[] g = random(n, 4);
    float[] u = random(n, 2);
    long dg = dev(g);
    k.swiglu(dg, dev(u), dg, n);
    float[] expect = new float[n];
    for (int i = 0; i < n; i++) {
      expect[i] = (float) (g[i] / (1 + Math.exp(-g[i])) * u[i]);
    }
    assertClose("swiglu", get(dg, n), expect, 1e-6, 1e-5);

    int rows = 3;
    int cols = 1777;
    float[] x = random(rows * cols, 10);
    x[cols + 1234] = 50; // row 1's maximum
    long dx = dev(x);
    long idx = dev(new int[rows]);
    k.argmax(dx, cols, idx, rows);
    int[] gotIdx = backend.downloadInts(idx, rows);
    for (int r = 0; r < rows; r++) {
      assertThat(gotIdx[r])
          .as("argmax row %d", r)
          .isEqualTo(ReferenceModelTest.argmax(Arrays.copyOfRange(x, r * cols, (r + 1) * cols)));
    }
    k.softmax(dx, cols, rows);
    float[] sm = new float[rows * cols];
    for (int r = 0; r < rows; r++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int i = 0; i < cols; i++) {
        max = Math.max(max, x[r * cols + i]);
      }
      double sum = 0;
      for (int i = 0; i < cols; i++) {
        sum += Math.exp(x[r * cols + i] - max);
      }
      for (int i = 0; i < cols; i++) {
        sm[r * cols + i] = (float) (Math.exp(x[r * cols + i] - max) / sum);
      }
    }
    assertClose("softmax", get(dx, rows * cols), sm, 1e-7, 1e-4);

    float[] y = random(rows * cols, 1);
    float[] b = random(cols, 1);
    float[] z = random(rows * cols, 1);
    long dy = dev(y);
    k.addBias(dy, dev(b), cols, (long) rows * cols);
    k.add(dy, dev(z), (long) rows * cols);
    float[] e = new float[rows * cols];
    for (int i = 0; i < e.length; i++) {
      e[i] = y[i] + b[i % cols] + z[i];
    }
    assertClose("add_bias + add", get(dy, rows * cols), e, 1e-6, 1e-6);

    int[] pick = {2, 0, 2};
    long dOut = devZeros((long) pick.length * cols);
    k.gatherRows(dy, dev(pick), dOut, cols, pick.length);
    float[] gathered = get(dOut, pick.length * cols);
    for (int r = 0; r < pick.length; r++) {
      assertClose(
          "gather row " + r,
          Arrays.copyOfRange(gathered, r * cols, (r + 1) * cols),
          Arrays.copyOfRange(e, pick[r] * cols, (pick[r] + 1) * cols),
          0,
          0);
    }
  }

  @ParameterizedTest
  @MethodSource("typesAndLayouts")
  void embeddingLookup(GgmlType type, CudaWeightLayout layout) {
    int vocab = 10;
    int dim = 512;
    try (Arena arena = Arena.ofConfined()) {
      GgufTensor w =
          TestModels.tensor("emb", type, vocab, dim, arena, new SplittableRandom(7), false);
      long dw = uploadWeights(w, dim, layout);
      boolean rp = layout.repacks(type, dim);
      int[] toks = {3, 0, 9, 3};
      long out = devZeros((long) toks.length * dim);
      k.embed(type, rp, dw, type.bytesFor(dim), dev(toks), out, dim, toks.length);
      float[] got = get(out, toks.length * dim);
      for (int t = 0; t < toks.length; t++) {
        assertClose(
            "embed " + type + " " + layout + " token " + toks[t],
            Arrays.copyOfRange(got, t * dim, (t + 1) * dim),
            Dequant.row(type, w.data(), toks[t], dim),
            0,
            1e-6);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("typesAndLayouts")
  void matmulAgainstDequantizedReference(GgmlType type, CudaWeightLayout layout) {
    // 2304 = 9 K-quant super-blocks: uneven split-K parts in the single-token kernels
    List<Integer> widths = new ArrayList<>(List.of(512, 1536, 2304));
    if (type.blockSize == 1) {
      widths.add(172); // not a multiple of 8: the scalar-load path
    }
    for (int cols : widths) {
      int rows = 67;
      try (Arena arena = Arena.ofConfined()) {
        GgufTensor w =
            TestModels.tensor("w", type, rows, cols, arena, new SplittableRandom(cols), false);
        float[] wf = Dequant.matrix(type, w.data(), rows, cols);
        long dw = uploadWeights(w, cols, layout);
        boolean rp = layout.repacks(type, cols);
        for (int tokens : new int[] {1, 5, 8, 40}) {
          float[] x = random(tokens * cols, 1);
          float[] bias = random(rows, 1);
          float[] y0 = random(tokens * rows, 1);
          long dx = dev(x);
          long dy = dev(y0);
          long dyb = devZeros((long) tokens * rows);
          k.matmul(type, rp, dw, type.bytesFor(cols), dx, dy, 0, rows, cols, tokens, true);
          k.matmul(
              type, rp, dw, type.bytesFor(cols), dx, dyb, dev(bias), rows, cols, tokens, false);
          float[] plain = new float[tokens * rows];
          float[] acc = new float[tokens * rows];
          float[] withBias = new float[tokens * rows];
          for (int t = 0; t < tokens; t++) {
            float[] r =
                ReferenceModel.matvec(
                    wf, Arrays.copyOfRange(x, t * cols, (t + 1) * cols), rows, cols, null);
            for (int i = 0; i < rows; i++) {
              plain[t * rows + i] = r[i];
              acc[t * rows + i] = y0[t * rows + i] + r[i];
              withBias[t * rows + i] = r[i] + bias[i];
            }
          }
          double atol = 1e-4 * Math.max(1, GpuAssert.maxAbs(plain));
          String what =
              "matmul " + type + (rp ? " repacked " : " ") + rows + "x" + cols + " T=" + tokens;
          assertClose(what + " accumulate", get(dy, tokens * rows), acc, atol, 1e-4);
          assertClose(what + " bias", get(dyb, tokens * rows), withBias, atol, 1e-4);
        }
      }
    }
  }

  /** The fused Q/K/V and gate/up/SwiGLU launches equal the separate products. */
  @ParameterizedTest
  @MethodSource("typesAndLayouts")
  void fusedProjectionsMatchTheReference(GgmlType type, CudaWeightLayout layout) {
    int cols = 512;
    int rowsQ = 36;
    int rowsKv = 9;
    int hidden = 70;
    try (Arena arena = Arena.ofConfined()) {
      SplittableRandom sr = new SplittableRandom(5);
      GgufTensor[] w = {
        TestModels.tensor("q", type, rowsQ, cols, arena, sr, false),
        TestModels.tensor("k", type, rowsKv, cols, arena, sr, false),
        TestModels.tensor("v", type, rowsKv, cols, arena, sr, false),
        TestModels.tensor("g", type, hidden, cols, arena, sr, false),
        TestModels.tensor("u", type, hidden, cols, arena, sr, false)
      };
      int[] rows = {rowsQ, rowsKv, rowsKv, hidden, hidden};
      long[] dw = new long[w.length];
      float[][] wf = new float[w.length][];
      for (int i = 0; i < w.length; i++) {
        dw[i] = uploadWeights(w[i], cols, layout);
        wf[i] = Dequant.matrix(type, w[i].data(), rows[i], cols);
      }
      boolean rp = layout.repacks(type, cols);
      long rb = type.bytesFor(cols);
      for (int tokens : new int[] {1, 9, 33}) {
        float[] x = random(tokens * cols, 1);
        float[] bq = random(rowsQ, 1);
        float[] bk = random(rowsKv, 1);
        float[] bv = random(rowsKv, 1);
        long dx = dev(x);
        long yq = devZeros((long) tokens * rowsQ);
        long yk = devZeros((long) tokens * rowsKv);
        long yv = devZeros((long) tokens * rowsKv);
        long yh = devZeros((long) tokens * hidden);
        k.matmulQkv(
            type, rp, dw[0], dw[1], dw[2], rb, dx, yq, yk, yv, dev(bq), dev(bk), dev(bv), rowsQ,
            rowsKv, cols, tokens, 0, 0f);
        k.matmulGateUp(type, rp, dw[3], dw[4], rb, dx, yh, hidden, cols, tokens, 0, 0f);
        float[][] bias = {bq, bk, bv};
        long[] outs = {yq, yk, yv};
        float[] h = new float[tokens * hidden];
        float[][] expect = new float[3][];
        for (int m = 0; m < 3; m++) {
          expect[m] = new float[tokens * rows[m]];
        }
        for (int t = 0; t < tokens; t++) {
          float[] xt = Arrays.copyOfRange(x, t * cols, (t + 1) * cols);
          for (int m = 0; m < 3; m++) {
            float[] r = ReferenceModel.matvec(wf[m], xt, rows[m], cols, bias[m]);
            System.arraycopy(r, 0, expect[m], t * rows[m], rows[m]);
          }
          float[] g = ReferenceModel.matvec(wf[3], xt, hidden, cols, null);
          float[] u = ReferenceModel.matvec(wf[4], xt, hidden, cols, null);
          for (int i = 0; i < hidden; i++) {
            h[t * hidden + i] = (float) (g[i] / (1 + Math.exp(-g[i])) * u[i]);
          }
        }
        String what = type + (rp ? " repacked" : "") + " T=" + tokens;
        for (int m = 0; m < 3; m++) {
          double atol = 1e-4 * Math.max(1, GpuAssert.maxAbs(expect[m]));
          assertClose(
              what + " qkv part " + "qkv".charAt(m),
              get(outs[m], tokens * rows[m]),
              expect[m],
              atol,
              1e-4);
        }
        assertClose(
            what + " gate/up/swiglu",
            get(yh, tokens * hidden),
            h,
            1e-4 * Math.max(1, GpuAssert.maxAbs(h)),
            1e-4);
      }
    }
  }

  /**
   * The single-token QKV and gate/up kernels with the RMSNorm fused in give exactly what rmsnorm
   * followed by the same kernels gives (the decode path relies on it for identical logits).
   */
  @ParameterizedTest
  @MethodSource("typesAndLayouts")
  void fusedNormIsBitIdenticalToRmsnormFirst(GgmlType type, CudaWeightLayout layout) {
    for (int cols : new int[] {512, 1536}) {
      int rowsQ = 40;
      int rowsKv = 8;
      int hidden = 75;
      try (Arena arena = Arena.ofConfined()) {
        SplittableRandom sr = new SplittableRandom(cols + 7);
        GgufTensor[] w = {
          TestModels.tensor("q", type, rowsQ, cols, arena, sr, false),
          TestModels.tensor("k", type, rowsKv, cols, arena, sr, false),
          TestModels.tensor("v", type, rowsKv, cols, arena, sr, false),
          TestModels.tensor("g", type, hidden, cols, arena, sr, false),
          TestModels.tensor("u", type, hidden, cols, arena, sr, false)
        };
        long[] dw = new long[w.length];
        for (int i = 0; i < w.length; i++) {
          dw[i] = uploadWeights(w[i], cols, layout);
        }
        boolean rp = layout.repacks(type, cols);
        long rb = type.bytesFor(cols);
        float[] x = random(cols, 3);
        float[] nw = random(cols, 1);
        float eps = 1e-6f;
        long dx = dev(x);
        long dn = dev(nw);
        long xb = devZeros(cols);
        k.rmsnorm(dx, dn, xb, cols, eps, 1);
        long[] plain = new long[4];
        long[] fused = new long[4];
        int[] n = {rowsQ, rowsKv, rowsKv, hidden};
        for (int i = 0; i < 4; i++) {
          plain[i] = devZeros(n[i]);
          fused[i] = devZeros(n[i]);
        }
        float[] bq = random(rowsQ, 1);
        long dbq = dev(bq);
        k.matmulQkv(
            type, rp, dw[0], dw[1], dw[2], rb, xb, plain[0], plain[1], plain[2], dbq, 0, 0, rowsQ,
            rowsKv, cols, 1, 0, 0f);
        k.matmulQkv(
            type, rp, dw[0], dw[1], dw[2], rb, dx, fused[0], fused[1], fused[2], dbq, 0, 0, rowsQ,
            rowsKv, cols, 1, dn, eps);
        k.matmulGateUp(type, rp, dw[3], dw[4], rb, xb, plain[3], hidden, cols, 1, 0, 0f);
        k.matmulGateUp(type, rp, dw[3], dw[4], rb, dx, fused[3], hidden, cols, 1, dn, eps);
        for (int i = 0; i < 4; i++) {
          assertThat(get(fused[i], n[i]))
              .as(
                  type
                      + (rp ? " repacked" : "")
                      + " cols "
                      + cols
                      + " output "
                      + "qkvh".charAt(i)
                      + " with fused RMSNorm")
              .containsExactly(get(plain[i], n[i]));
        }
      }
    }
  }

  /** The PTX images (JIT-compiled by the driver) load and compute too, not only the cubin. */
  @Test
  void ptxImagesLoadAndRun() {
    try (CudaKernels ptx = backend.loadKernels(true)) {
      assertThat(ptx.ptxVariant).endsWith(".ptx");
      int dim = 300;
      float[] x = random(2 * dim, 2);
      float[] w = random(dim, 1);
      long out = devZeros(2L * dim);
      ptx.rmsnorm(dev(x), dev(w), out, dim, 1e-6f, 2);
      float[] got = get(out, 2 * dim);
      for (int r = 0; r < 2; r++) {
        assertClose(
            "rmsnorm through " + ptx.ptxVariant + " row " + r,
            Arrays.copyOfRange(got, r * dim, (r + 1) * dim),
            ReferenceModel.rmsnorm(Arrays.copyOfRange(x, r * dim, (r + 1) * dim), w, 1e-6f),
            1e-5,
            1e-5);
      }
    }
  }

  @Test
  void copyBandwidthIsMeasured() {
    double bw = backend.copyBandwidth(64L << 20, 5);
    System.out.printf("[gpu] device-to-device copy: %.0f GB/s (read + write)%n", bw / 1e9);
    assertThat(bw).isGreaterThan(1e9);
  }
}
