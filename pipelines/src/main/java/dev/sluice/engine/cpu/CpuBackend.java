package dev.sluice.engine.cpu;

import dev.sluice.engine.Backend;
import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.model.LayerWeights;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.model.RopeType;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The fast CPU backend: the same forward pass as {@link ScalarBackend}, multithreaded and
 * vectorized. Its worker threads are started once and live as long as the backend; every matrix
 * multiplication is split by output rows over them (Q, K and V in one dispatch, gate and up in
 * another), attention by (token, head) pairs. Weights are read in place from the mapped file by
 * {@code MatMul.fast} (quantized dot products without dequantizing whole rows). Activations,
 * attention scores and the KV cache live in arrays allocated at load time or when a larger batch
 * than any before arrives, so a steady stream of steps allocates nothing.
 *
 * <p>The KV cache is one array per layer for keys and one for values, laid out {@code (numBlocks,
 * blockSize, kvDim)}. Failure semantics: as {@link ScalarBackend}; an exception in a worker thread
 * is rethrown by {@code forward} in the caller after all workers are idle, and the runner stays
 * usable (the failed step's KV writes are simply overwritten by a retry).
 */
public final class CpuBackend implements Backend {
  private static final ValueLayout.OfFloat F32 =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  /**
   * Below this many multiply-adds a job runs on the calling thread alone: waking the workers costs
   * microseconds, more than tiny models' matrices take (stories260K's are 4-33 K).
   */
  static final long SERIAL_MACS = 48 * 1024;

  private final int threads;
  private final long serialMacs;
  private final List<Runner> runners = new ArrayList<>();

  /**
   * @param threads compute threads, the caller included (so {@code threads - 1} are started)
   */
  public CpuBackend(int threads) {
    this(threads, SERIAL_MACS);
  }

  /** For tests: {@code serialMacs = 0} sends every job to the workers, however small. */
  CpuBackend(int threads, long serialMacs) {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    }
    this.threads = threads;
    this.serialMacs = serialMacs;
  }

  /** A backend with one compute thread per available processor. */
  public CpuBackend() {
    this(Runtime.getRuntime().availableProcessors());
  }

  @Override
  public String name() {
    return "cpu";
  }

  public int threads() {
    return threads;
  }

  @Override
  public ModelRunner load(ModelWeights weights, KvCacheSpec kvCache) {
    Runner r = new Runner(weights, kvCache, new WorkerPool(threads, "sluice-cpu"), serialMacs);
    runners.add(r);
    return r;
  }

  @Override
  public void close() {
    for (Runner r : runners) {
      r.close();
    }
    runners.clear();
  }

  private static float[] copyF32(GgufTensor t) {
    if (t.type() != GgmlType.F32) {
      throw new IllegalArgumentException("tensor " + t.name() + " must be F32, is " + t.type());
    }
    float[] a = new float[Math.toIntExact(t.elements())];
    for (int i = 0; i < a.length; i++) {
      a[i] = t.data().getAtIndex(F32, i);
    }
    return a;
  }

  private static final class Runner implements ModelRunner, WorkerPool.Job {
    private static final int OP_MATMUL = 1;
    private static final int OP_ATTENTION = 2;

    private final ModelWeights w;
    private final ModelConfig c;
    private final KvCacheSpec kv;
    private final int blockShift; // log2(blockSize)
    private final int blockMask; // blockSize - 1
    private final WorkerPool pool;
    private final long serialMacs;
    private final float[][] attnNorm; // (layers, dim)
    private final float[][] ffnNorm; // (layers, dim)
    private final float[][] bq; // (layers, qDim) or null
    private final float[][] bk; // (layers, kvDim) or null
    private final float[][] bv; // (layers, kvDim) or null
    private final float[] outNorm; // (dim)
    private final float[][] keyCache; // (layers) x (numBlocks, blockSize, kvDim)
    private final float[][] valueCache; // (layers) x (numBlocks, blockSize, kvDim)
    private final float[][] scores; // (parts, numBlocks * blockSize) attention scratch per part
    private final float[] ropeCos; // (ropeDim / 2)
    private final float[] ropeSin; // (ropeDim / 2)
    private final double[] ropeFreq; // (ropeDim / 2)

    // Activations for up to `capacity` tokens; grown (rarely) when a larger batch arrives.
    private int capacity;
    private int[] seqOf;
    private int[] posOf;
    private float[] x; // (T, dim)
    private float[] xb; // (T, dim)
    private float[] q; // (T, qDim)
    private float[] k; // (T, kvDim)
    private float[] v; // (T, kvDim)
    private float[] att; // (T, qDim)
    private float[] proj; // (T, dim)
    private float[] gate; // (T, hiddenDim)
    private float[] up; // (T, hiddenDim)

    // The current parallel job, described by fields so that dispatch allocates nothing.
    private int op;
    private int mmCount;
    private final GgufTensor[] mmW = new GgufTensor[3];
    private final float[][] mmOut = new float[3][];
    private float[] mmIn;
    private int mmT;
    private StepBatch attBatch;
    private int attLayer;
    private int attT;

    Runner(ModelWeights w, KvCacheSpec kv, WorkerPool pool, long serialMacs) {
      this.w = w;
      this.c = w.config();
      this.kv = kv;
      this.blockShift = Integer.numberOfTrailingZeros(kv.blockSize());
      this.blockMask = kv.blockSize() - 1;
      this.pool = pool;
      this.serialMacs = serialMacs;
      try {
        int layers = c.layers();
        attnNorm = new float[layers][];
        ffnNorm = new float[layers][];
        bq = new float[layers][];
        bk = new float[layers][];
        bv = new float[layers][];
        for (int l = 0; l < layers; l++) {
          LayerWeights lw = w.layers().get(l);
          attnNorm[l] = copyF32(lw.attnNorm());
          ffnNorm[l] = copyF32(lw.ffnNorm());
          if (c.qkvBias()) {
            bq[l] = copyF32(lw.bq());
            bk[l] = copyF32(lw.bk());
            bv[l] = copyF32(lw.bv());
          }
        }
        outNorm = copyF32(w.outputNorm());
        long perLayer = (long) kv.numBlocks() * kv.blockSize() * c.kvDim();
        if (perLayer > Integer.MAX_VALUE - 8) {
          throw new IllegalArgumentException(
              "KV cache of "
                  + kv.numBlocks()
                  + " blocks x "
                  + kv.blockSize()
                  + " tokens x "
                  + c.kvDim()
                  + " floats per layer exceeds a Java array; use fewer blocks");
        }
        keyCache = new float[layers][(int) perLayer];
        valueCache = new float[layers][(int) perLayer];
        scores = new float[pool.parts()][kv.numBlocks() * kv.blockSize()];
        int half = c.ropeDim() / 2;
        ropeCos = new float[half];
        ropeSin = new float[half];
        ropeFreq = new double[half];
        for (int i = 0; i < half; i++) {
          ropeFreq[i] = Math.pow(c.ropeTheta(), -2.0 * i / c.ropeDim()) / c.ropeScale();
          if (w.ropeFreqs() != null) {
            ropeFreq[i] /= w.ropeFreqs().data().getAtIndex(F32, i); // Llama 3.1 frequency factors
          }
        }
        ensureCapacity(1);
      } catch (RuntimeException | Error e) {
        pool.close();
        throw e;
      }
    }

    private void ensureCapacity(int T) {
      if (T <= capacity) {
        return;
      }
      capacity = Math.max(T, capacity * 2);
      seqOf = new int[capacity];
      posOf = new int[capacity];
      x = new float[capacity * c.dim()];
      xb = new float[capacity * c.dim()];
      q = new float[capacity * c.qDim()];
      k = new float[capacity * c.kvDim()];
      v = new float[capacity * c.kvDim()];
      att = new float[capacity * c.qDim()];
      proj = new float[capacity * c.dim()];
      gate = new float[capacity * c.hiddenDim()];
      up = new float[capacity * c.hiddenDim()];
    }

    @Override
    public ModelConfig config() {
      return c;
    }

    @Override
    public KvCacheSpec kvCache() {
      return kv;
    }

    @Override
    public void forward(StepBatch b, float[] logits) {
      BatchChecks.validate(b, c, kv, logits);
      int T = b.totalTokens();
      ensureCapacity(Math.max(T, b.logitRows()));
      int dim = c.dim();
      int qDim = c.qDim();
      int kvDim = c.kvDim();
      int hidden = c.hiddenDim();
      for (int s = 0; s < b.numSeqs; s++) {
        for (int t = b.seqStart[s]; t < b.seqStart[s + 1]; t++) {
          seqOf[t] = s;
          posOf[t] = b.seqPos[s] + (t - b.seqStart[s]);
        }
      }
      for (int t = 0; t < T; t++) {
        MatMul.dequantizeRow(w.tokenEmbedding(), b.tokens[t], x, t * dim);
      }

      for (int l = 0; l < c.layers(); l++) {
        LayerWeights lw = w.layers().get(l);
        for (int t = 0; t < T; t++) {
          VectorOps.rmsnorm(x, t * dim, attnNorm[l], xb, t * dim, dim, c.rmsEps());
        }
        matmul(xb, T, lw.wq(), q, lw.wk(), k, lw.wv(), v);
        for (int t = 0; t < T; t++) {
          if (c.qkvBias()) {
            VectorOps.axpy(1f, bq[l], 0, q, t * qDim, qDim);
            VectorOps.axpy(1f, bk[l], 0, k, t * kvDim, kvDim);
            VectorOps.axpy(1f, bv[l], 0, v, t * kvDim, kvDim);
          }
          ropeAngles(posOf[t]);
          for (int h = 0; h < c.heads(); h++) {
            rope(q, t * qDim + h * c.headDim());
          }
          for (int h = 0; h < c.kvHeads(); h++) {
            rope(k, t * kvDim + h * c.headDim());
          }
          int off = cacheOffset(b, seqOf[t], posOf[t]);
          System.arraycopy(k, t * kvDim, keyCache[l], off, kvDim);
          System.arraycopy(v, t * kvDim, valueCache[l], off, kvDim);
        }
        op = OP_ATTENTION;
        attBatch = b;
        attLayer = l;
        attT = T;
        long attMacs = 0;
        for (int t = 0; t < T; t++) {
          attMacs += (posOf[t] + 1L) * 2 * qDim; // scores and weighted values
        }
        if (attMacs < serialMacs) {
          run(0, 1);
        } else {
          pool.run(this);
        }
        attBatch = null;
        matmul(att, T, lw.wo(), proj, null, null, null, null);
        VectorOps.add(proj, x, T * dim);

        for (int t = 0; t < T; t++) {
          VectorOps.rmsnorm(x, t * dim, ffnNorm[l], xb, t * dim, dim, c.rmsEps());
        }
        matmul(xb, T, lw.wGate(), gate, lw.wUp(), up, null, null);
        VectorOps.swiglu(gate, up, T * hidden);
        matmul(gate, T, lw.wDown(), proj, null, null, null, null);
        VectorOps.add(proj, x, T * dim);
      }

      int rows = b.logitRows();
      for (int r = 0; r < rows; r++) {
        int t = b.allLogits ? r : b.seqStart[r + 1] - 1;
        VectorOps.rmsnorm(x, t * dim, outNorm, xb, r * dim, dim, c.rmsEps());
      }
      matmul(xb, rows, w.output(), logits, null, null, null, null);
    }

    /** Up to three matrices applied to the same input, split by rows over the workers. */
    private void matmul(
        float[] in,
        int T,
        GgufTensor w0,
        float[] o0,
        GgufTensor w1,
        float[] o1,
        GgufTensor w2,
        float[] o2) {
      op = OP_MATMUL;
      mmIn = in;
      mmT = T;
      mmW[0] = w0;
      mmOut[0] = o0;
      mmW[1] = w1;
      mmOut[1] = o1;
      mmW[2] = w2;
      mmOut[2] = o2;
      mmCount = w2 != null ? 3 : w1 != null ? 2 : 1;
      long macs =
          (long) T
              * w0.cols()
              * (w0.rows() + (w1 != null ? w1.rows() : 0) + (w2 != null ? w2.rows() : 0));
      if (macs < serialMacs) {
        run(0, 1); // too small to pay for waking the workers
      } else {
        pool.run(this);
      }
    }

    @Override
    public void run(int part, int parts) {
      if (op == OP_MATMUL) {
        matmulPart(part, parts);
      } else {
        attentionPart(part, parts);
      }
    }

    private void matmulPart(int part, int parts) {
      long total = 0;
      for (int i = 0; i < mmCount; i++) {
        total += mmW[i].rows();
      }
      // This part's slice of the concatenated rows of all matrices, in multiples of 4 rows.
      long lo = roundTo4(total * part / parts);
      long hi = part == parts - 1 ? total : roundTo4(total * (part + 1) / parts);
      long base = 0;
      for (int i = 0; i < mmCount && lo < hi; i++) {
        int rows = mmW[i].rows();
        long r0 = Math.max(lo, base) - base;
        long r1 = Math.min(hi, base + rows) - base;
        if (r0 < r1) {
          MatMul.fast(mmW[i], mmIn, mmT, mmOut[i], (int) r0, (int) r1);
        }
        base += rows;
      }
    }

    private static long roundTo4(long r) {
      return r & ~3L;
    }

    private void attentionPart(int part, int parts) {
      int heads = c.heads();
      int hd = c.headDim();
      int qDim = c.qDim();
      int group = heads / c.kvHeads();
      float scale = (float) (1.0 / Math.sqrt(hd));
      float[] kc = keyCache[attLayer];
      float[] vc = valueCache[attLayer];
      float[] sc = scores[part];
      StepBatch b = attBatch;
      int pairs = attT * heads;
      int lo = (int) ((long) pairs * part / parts);
      int hi = (int) ((long) pairs * (part + 1) / parts);
      for (int i = lo; i < hi; i++) {
        int t = i / heads;
        int h = i % heads;
        int s = seqOf[t];
        int pos = posOf[t];
        int qOff = t * qDim + h * hd;
        int kvOff = (h / group) * hd;
        for (int p = 0; p <= pos; p++) {
          sc[p] = VectorOps.dot(q, qOff, kc, cacheOffset(b, s, p) + kvOff, hd) * scale;
        }
        VectorOps.softmax(sc, pos + 1);
        java.util.Arrays.fill(att, qOff, qOff + hd, 0f);
        for (int p = 0; p <= pos; p++) {
          VectorOps.axpy(sc[p], vc, cacheOffset(b, s, p) + kvOff, att, qOff, hd);
        }
      }
    }

    private int cacheOffset(StepBatch b, int s, int pos) {
      // blockSize is a power of two (KvCacheSpec checks it): shift and mask instead of / and %.
      int block = b.blockTable[s * b.maxBlocksPerSeq + (pos >>> blockShift)];
      return ((block << blockShift) + (pos & blockMask)) * c.kvDim();
    }

    private void ropeAngles(int pos) {
      for (int i = 0; i < ropeFreq.length; i++) {
        double theta = pos * ropeFreq[i];
        ropeCos[i] = (float) Math.cos(theta);
        ropeSin[i] = (float) Math.sin(theta);
      }
    }

    private void rope(float[] vec, int off) {
      int half = ropeFreq.length;
      boolean norm = c.ropeType() == RopeType.NORM;
      for (int i = 0; i < half; i++) {
        int a = norm ? off + 2 * i : off + i;
        int bb = norm ? a + 1 : off + i + half;
        float x0 = vec[a];
        float x1 = vec[bb];
        vec[a] = x0 * ropeCos[i] - x1 * ropeSin[i];
        vec[bb] = x0 * ropeSin[i] + x1 * ropeCos[i];
      }
    }

    @Override
    public void close() {
      pool.close();
    }
  }
}
