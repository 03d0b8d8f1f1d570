package dev.sluice.engine.cuda;

import static dev.sluice.engine.cuda.Cuda.check;
import static org.lwjgl.system.MemoryStack.stackPush;

import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.model.LayerWeights;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.model.RopeType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.lwjgl.PointerBuffer;
import org.lwjgl.cuda.CU;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A model on one GPU: weights in device memory in their GGUF type (laid out per {@link
 * CudaWeightLayout}: as in the file, or Q8_0/Q4_0 regrouped for 16-byte loads), the paged KV cache
 * (float32, per layer {@code (numBlocks * blockSize, kvDim)} for keys and the same for values),
 * activation scratch sized for the largest batch seen so far, and pinned host buffers for the
 * step's metadata and logits.
 *
 * <p>A step uploads one small metadata block (tokens, per-token position, sequence and cache slot,
 * logit rows, block tables), runs the layers as a fixed sequence of kernels on the backend's stream
 * and copies the logits back. Steps of up to {@link #GRAPH_MAX_TOKENS} tokens are captured once per
 * batch shape into a CUDA graph and replayed, which removes the per-kernel launch cost that would
 * otherwise dominate single-sequence decode; property {@code sluice.cuda.graphs=false} turns that
 * off. Inputs are validated on the host before anything is launched, so a bad token id or block id
 * fails the call with an {@link IllegalArgumentException} instead of faulting the device. With
 * {@code sluice.cuda.fuseRope=true}, decode steps (one token per sequence) rotate q and k and store
 * the KV pair inside the attention kernel instead of a separate {@code rope_store} launch.
 */
final class CudaModelRunner implements ModelRunner {
  private static final Logger log = LoggerFactory.getLogger(CudaModelRunner.class);
  static final int GRAPH_MAX_TOKENS = 64;
  private static final int GRAPH_CACHE = 64;

  /**
   * A weight matrix on the device: {@code rows} rows of {@code rowBytes} bytes, in its GGUF block
   * layout or, when {@code repacked}, in {@link CudaWeightLayout#REPACKED}'s (same row size).
   */
  record Matrix(
      String name, long ptr, GgmlType type, long rowBytes, int rows, int cols, boolean repacked) {}

  /** One block's device tensors; biases are 0 when absent. */
  record Layer(
      long attnNorm,
      Matrix wq,
      Matrix wk,
      Matrix wv,
      Matrix wo,
      long bq,
      long bk,
      long bv,
      long ffnNorm,
      Matrix gate,
      Matrix up,
      Matrix down) {}

  private final CudaBackend backend;
  private final CudaKernels k;
  private final ModelConfig c;
  private final KvCacheSpec kv;
  private final CudaWeightLayout layout;
  private int repackedMatrices;
  private final List<Long> weightAllocations = new ArrayList<>();
  private final Matrix embedding;
  private final Matrix output;
  private final long outputNorm;
  private final long ropeFreqs; // (ropeDim / 2) F32 divisors, or 0
  private final Layer[] layers;
  private final long kCache; // (layers, numBlocks * blockSize, kvDim) float32
  private final long vCache;
  // Flash-decoding scratch (attention_split): partial results and per-(token, head) counters,
  // sized for the largest split count attentionSplits gives (bounded by attnTargetBlocks).
  private final int attnTargetBlocks;
  private final long attnPartials;
  private final long attnCounters;
  private final long layerCacheBytes;

  // capacity-dependent buffers (grown, never shrunk)
  private int tokCap;
  private int tableCap;
  private int rowCap;
  private long metaHost; // pinned: tokens | tokPos | tokSeq | tokSlot | rows (tokCap each) | table
  private long metaDev;
  private long x; // (tokCap, dim) residual stream
  private long xb; // (tokCap, dim) normalised
  private long q; // (tokCap, qDim)
  private long kk; // (tokCap, kvDim)
  private long vv; // (tokCap, kvDim)
  private long att; // (tokCap, qDim)
  private long hb; // (tokCap, hiddenDim)
  private long hb2; // (tokCap, hiddenDim)
  private long xl; // (tokCap, dim) rows that produce logits
  private long logitsDev; // (rowCap, vocab)
  private long logitsHost; // pinned (rowCap, vocab)
  private FloatBuffer logitsView;

  private boolean graphs = !"false".equalsIgnoreCase(System.getProperty("sluice.cuda.graphs"));
  // Fused projections (one launch for Q, K, V; one for gate, up and SwiGLU) when the weights share
  // a type; the unfused path stays for mixed-type files and for differential tests.
  private boolean fuseQkv = true;
  private boolean fuseGateUp = true;
  // RMSNorm inside the fused single-token QKV and gate/up kernels (off only in differential tests).
  private boolean fuseNorm = true;
  // RoPE and the KV store inside decode attention (attention_fused.cu): not yet measured on a GPU,
  // so off unless -Dsluice.cuda.fuseRope=true or useFusedRope(true).
  private boolean fuseRope = Boolean.getBoolean("sluice.cuda.fuseRope");
  private final long[] graphKeys = new long[GRAPH_CACHE];
  private final long[] graphExecs = new long[GRAPH_CACHE];
  private int graphCount;
  private boolean closed;

  /** Phases of one step that {@link #profile} times separately, in this order. */
  static final String[] PHASES = {
    "metadata in",
    "norms, rope, embed",
    "qkv",
    "attention",
    "o-proj",
    "gate-up",
    "down",
    "output matmul",
    "logits out"
  };

  private static final int PH_META = 0;
  private static final int PH_SMALL = 1;
  private static final int PH_QKV = 2;
  private static final int PH_ATT = 3;
  private static final int PH_O = 4;
  private static final int PH_GATE_UP = 5;
  private static final int PH_DOWN = 6;
  private static final int PH_OUT = 7;
  private static final int PH_COPY = 8;

  // Per-phase timing (benchmarks only): when set, steps run without graphs and an event is recorded
  // after each kernel group; the milliseconds between events are added to profileMs[phase].
  private double[] profileMs;
  private long[] profEvents = new long[0];
  private int[] profPhase = new int[0];
  private int profCount;
  private int lastLaunches;

  CudaModelRunner(CudaBackend backend, ModelWeights w, KvCacheSpec kv) {
    this(backend, w, kv, CudaWeightLayout.fromSystemProperty());
  }

  /**
   * Uploads {@code w} with matrices in {@code layout}; {@link CudaWeightLayout#REPACKED} falls back
   * to {@link CudaWeightLayout#GGUF}, with a warning, when its kernels did not load.
   */
  CudaModelRunner(CudaBackend backend, ModelWeights w, KvCacheSpec kv, CudaWeightLayout layout) {
    this.backend = backend;
    this.k = backend.kernels;
    this.c = w.config();
    this.kv = kv;
    validate(c);
    if (layout == CudaWeightLayout.REPACKED && !k.repackedAvailable) {
      log.warn("weight layout repacked requested but its kernels did not load: using gguf");
      layout = CudaWeightLayout.GGUF;
    }
    this.layout = layout;
    Map<Long, Long> uploaded = new HashMap<>();
    try {
      embedding = matrix(w.tokenEmbedding(), c.vocabSize(), c.dim(), uploaded);
      output = matrix(w.output(), c.vocabSize(), c.dim(), uploaded);
      outputNorm = vector(w.outputNorm(), c.dim(), uploaded);
      ropeFreqs = w.ropeFreqs() == null ? 0 : vector(w.ropeFreqs(), c.ropeDim() / 2, uploaded);
      if (w.layers().size() != c.layers()) {
        throw new IllegalArgumentException(
            "model has " + w.layers().size() + " layers, config says " + c.layers());
      }
      layers = new Layer[c.layers()];
      for (int i = 0; i < c.layers(); i++) {
        LayerWeights l = w.layers().get(i);
        layers[i] =
            new Layer(
                vector(l.attnNorm(), c.dim(), uploaded),
                matrix(l.wq(), c.qDim(), c.dim(), uploaded),
                matrix(l.wk(), c.kvDim(), c.dim(), uploaded),
                matrix(l.wv(), c.kvDim(), c.dim(), uploaded),
                matrix(l.wo(), c.dim(), c.qDim(), uploaded),
                c.qkvBias() ? vector(l.bq(), c.qDim(), uploaded) : 0,
                c.qkvBias() ? vector(l.bk(), c.kvDim(), uploaded) : 0,
                c.qkvBias() ? vector(l.bv(), c.kvDim(), uploaded) : 0,
                vector(l.ffnNorm(), c.dim(), uploaded),
                matrix(l.wGate(), c.hiddenDim(), c.dim(), uploaded),
                matrix(l.wUp(), c.hiddenDim(), c.dim(), uploaded),
                matrix(l.wDown(), c.dim(), c.hiddenDim(), uploaded));
      }
      layerCacheBytes = 4L * kv.numBlocks() * kv.blockSize() * c.kvDim();
      kCache = track(backend.alloc(layerCacheBytes * c.layers()));
      vCache = track(backend.alloc(layerCacheBytes * c.layers()));
      check(
          CU.cuMemsetD32Async(kCache, 0, layerCacheBytes * c.layers() / 4, backend.stream),
          "cuMemsetD32Async");
      check(
          CU.cuMemsetD32Async(vCache, 0, layerCacheBytes * c.layers() / 4, backend.stream),
          "cuMemsetD32Async");
      // About two 4-warp blocks per SM: enough (token, head, split) blocks in flight that one
      // token's attention is not 12 blocks on a 132-SM GPU.
      attnTargetBlocks = 2 * Math.max(1, backend.device().multiprocessors());
      attnPartials = track(backend.alloc(4L * 2 * attnTargetBlocks * (c.headDim() + 2)));
      attnCounters = track(backend.alloc(4L * attnTargetBlocks));
      check(
          CU.cuMemsetD32Async(attnCounters, 0, attnTargetBlocks, backend.stream),
          "cuMemsetD32Async");
      backend.sync();
    } catch (RuntimeException e) {
      freeAll();
      throw e;
    }
    if (layout == CudaWeightLayout.REPACKED) {
      log.info(
          "weight layout repacked: {} matrices on the repacked kernels (Q8_0/Q4_0 regrouped for"
              + " 16-byte loads, F16/Q4_K as is; width % 256), the others as in the file",
          repackedMatrices);
    }
  }

  private static void validate(ModelConfig c) {
    if (c.headDim() > 256) {
      throw new IllegalArgumentException("headDim " + c.headDim() + " > 256 (CUDA attention)");
    }
    if (c.kvHeads() <= 0 || c.heads() % c.kvHeads() != 0) {
      throw new IllegalArgumentException(
          "heads " + c.heads() + " not a multiple of kvHeads " + c.kvHeads());
    }
    if (c.ropeDim() > c.headDim() || (c.ropeDim() & 1) != 0) {
      throw new IllegalArgumentException(
          "ropeDim " + c.ropeDim() + " must be even and <= headDim " + c.headDim());
    }
  }

  private long track(long ptr) {
    weightAllocations.add(ptr);
    return ptr;
  }

  private long upload(GgufTensor t, Map<Long, Long> uploaded) {
    return upload(t, uploaded, false, 0);
  }

  /**
   * Uploads a tensor once (tied tensors, output = token embedding, share the copy), repacked into
   * {@link CudaWeightLayout#REPACKED}'s layout when {@code repack} ({@code cols} wide). Whether a
   * tensor is repacked depends only on its type and width, so tied uses always agree.
   */
  private long upload(GgufTensor t, Map<Long, Long> uploaded, boolean repack, int cols) {
    long key = t.data().address();
    Long known = t.data().isNative() ? uploaded.get(key) : null;
    if (known != null) {
      return known;
    }
    long d = track(backend.alloc(t.data().byteSize()));
    if (repack && CudaWeightLayout.movesBytes(t.type())) {
      uploadRepacked(d, t.type(), t.data(), cols);
      repackedMatrices++;
    } else {
      repackedMatrices += repack ? 1 : 0; // F16, Q4_K: same bytes, repacked-layout kernels
      backend.upload(d, t.data());
    }
    if (t.data().isNative()) {
      uploaded.put(key, d);
    }
    return d;
  }

  // Host staging for repacking: whole groups, at most this many bytes at a time.
  private static final long REPACK_STAGING = 16L << 20;

  private void uploadRepacked(long dst, GgmlType type, MemorySegment src, int cols) {
    long gb = CudaWeightLayout.groupBytes(type);
    long groups = src.byteSize() / gb;
    if (groups * gb != src.byteSize() || cols % CudaWeightLayout.GROUP != 0) {
      throw new IllegalArgumentException(
          type + " tensor of " + src.byteSize() + " bytes is not whole 256-weight groups");
    }
    long perChunk = Math.max(1, REPACK_STAGING / gb);
    try (Arena a = Arena.ofConfined()) {
      MemorySegment staging = a.allocate(Math.min(groups, perChunk) * gb, 16);
      for (long g0 = 0; g0 < groups; g0 += perChunk) {
        long n = Math.min(perChunk, groups - g0);
        MemorySegment part = staging.asSlice(0, n * gb);
        CudaWeightLayout.repack(type, src.asSlice(g0 * gb, n * gb), part, n);
        backend.upload(dst + g0 * gb, part);
      }
    }
  }

  private Matrix matrix(GgufTensor t, int rows, int cols, Map<Long, Long> uploaded) {
    if (t == null) {
      throw new IllegalArgumentException("missing weight matrix (" + rows + " x " + cols + ")");
    }
    if (t.cols() != cols || t.rows() != rows) {
      throw new IllegalArgumentException(
          t.name()
              + ": shape "
              + t.rows()
              + " x "
              + t.cols()
              + ", expected "
              + rows
              + " x "
              + cols);
    }
    if (cols % t.type().blockSize != 0) {
      throw new IllegalArgumentException(
          t.name() + ": " + cols + " columns not a multiple of the " + t.type() + " block");
    }
    long rowBytes = t.type().bytesFor(cols);
    boolean repack = layout.repacks(t.type(), cols);
    return new Matrix(
        t.name(), upload(t, uploaded, repack, cols), t.type(), rowBytes, rows, cols, repack);
  }

  private long vector(GgufTensor t, int n, Map<Long, Long> uploaded) {
    if (t == null) {
      throw new IllegalArgumentException("missing vector of " + n);
    }
    if (t.type() != GgmlType.F32 || t.elements() != n) {
      throw new IllegalArgumentException(
          t.name() + ": expected F32 of " + n + ", got " + t.type() + " of " + t.elements());
    }
    return upload(t, uploaded);
  }

  @Override
  public ModelConfig config() {
    return c;
  }

  @Override
  public KvCacheSpec kvCache() {
    return kv;
  }

  /** The layout the weights were uploaded in (after any fallback). */
  CudaWeightLayout weightLayout() {
    return layout;
  }

  /**
   * Matrices on the repacked-layout kernels (Q8_0/Q4_0 regrouped, F16/Q4_K unmoved); 0 for {@link
   * CudaWeightLayout#GGUF}.
   */
  int repackedMatrices() {
    return repackedMatrices;
  }

  /** Turns CUDA-graph replay of small steps on or off (benchmarks compare both). */
  void useGraphs(boolean on) {
    graphs = on;
  }

  /** Turns the fused QKV and gate/up kernels on or off (tests run both paths). */
  void useFusedKernels(boolean on) {
    fuseQkv = on;
    fuseGateUp = on;
    destroyGraphs(); // captured with the other path
  }

  /**
   * Turns RoPE + KV store fused into decode attention on or off (steps where every sequence adds
   * one token and attention splits over positions; other steps keep rope_store + attention).
   * Without the attention_fused kernels it stays off.
   */
  void useFusedRope(boolean on) {
    fuseRope = on;
    destroyGraphs();
  }

  /** Whether decode steps run RoPE inside attention (see {@link #useFusedRope}). */
  boolean fusedRope() {
    return fuseRope && k.ropeAttentionAvailable();
  }

  /** Turns the RMSNorm fused into single-token QKV and gate/up kernels on or off (tests). */
  void useFusedNorm(boolean on) {
    fuseNorm = on;
    destroyGraphs();
  }

  /** Bytes of weights in device memory (what one decode step reads at least once). */
  long weightBytes() {
    long n = embedding.rowBytes() * embedding.rows();
    if (output.ptr() != embedding.ptr()) {
      n += output.rowBytes() * output.rows();
    }
    for (Layer l : layers) {
      n +=
          bytes(l.wq())
              + bytes(l.wk())
              + bytes(l.wv())
              + bytes(l.wo())
              + bytes(l.gate())
              + bytes(l.up())
              + bytes(l.down());
    }
    return n;
  }

  private static long bytes(Matrix m) {
    return m.rowBytes() * m.rows();
  }

  @Override
  public void forward(StepBatch b, float[] logits) {
    if (closed) {
      throw new IllegalStateException("runner is closed");
    }
    backend.ensureOpen();
    int tokens = b.totalTokens();
    int seqs = b.numSeqs;
    int rows = b.logitRows();
    int vocab = c.vocabSize();
    if (tokens == 0) {
      throw new IllegalArgumentException("empty batch");
    }
    if ((long) rows * vocab > logits.length) {
      throw new IllegalArgumentException(
          "logits holds " + logits.length + " floats, need " + (long) rows * vocab);
    }
    backend.makeCurrent();
    int table = seqs * b.maxBlocksPerSeq;
    ensureCapacity(tokens, table, rows);
    fillMeta(b, tokens, seqs);

    if (profileMs != null) {
      enqueue(tokens, seqs, table, rows, b.maxBlocksPerSeq);
      backend.sync();
      addProfile();
    } else if (graphs && tokens <= GRAPH_MAX_TOKENS) {
      long key = graphKey(tokens, seqs, rows, b.maxBlocksPerSeq);
      if (key >= 0) {
        try {
          runGraph(key, tokens, seqs, table, rows, b.maxBlocksPerSeq);
        } catch (CudaException e) {
          if (e.fatal()) {
            throw e;
          }
          log.warn("CUDA graphs disabled for this model after: {}", e.getMessage());
          graphs = false;
          destroyGraphs();
          enqueue(tokens, seqs, table, rows, b.maxBlocksPerSeq);
        }
      } else {
        enqueue(tokens, seqs, table, rows, b.maxBlocksPerSeq);
      }
    } else {
      enqueue(tokens, seqs, table, rows, b.maxBlocksPerSeq);
    }
    backend.sync();
    logitsView.get(0, logits, 0, rows * vocab);
  }

  private void fillMeta(StepBatch b, int tokens, int seqs) {
    int bs = kv.blockSize();
    long base = metaHost;
    long tokOff = base;
    long posOff = base + 4L * tokCap;
    long seqOff = base + 8L * tokCap;
    long slotOff = base + 12L * tokCap;
    long rowOff = base + 16L * tokCap;
    long tableOff = base + 20L * tokCap;
    int vocab = c.vocabSize();
    int row = 0;
    for (int s = 0; s < seqs; s++) {
      int start = b.seqStart[s];
      int end = b.seqStart[s + 1];
      if (end <= start) {
        throw new IllegalArgumentException("sequence " + s + " has no tokens");
      }
      int pos0 = b.seqPos[s];
      int lastPos = pos0 + (end - start) - 1;
      if (pos0 < 0 || lastPos / bs >= b.maxBlocksPerSeq) {
        throw new IllegalArgumentException(
            "sequence "
                + s
                + ": positions "
                + pos0
                + ".."
                + lastPos
                + " exceed maxBlocksPerSeq "
                + b.maxBlocksPerSeq
                + " x blockSize "
                + bs);
      }
      int tableBase = s * b.maxBlocksPerSeq;
      for (int i = 0; i <= lastPos / bs; i++) {
        int block = b.blockTable[tableBase + i];
        if (block < 0 || block >= kv.numBlocks()) {
          throw new IllegalArgumentException(
              "sequence "
                  + s
                  + ": block id "
                  + block
                  + " at index "
                  + i
                  + " outside 0.."
                  + (kv.numBlocks() - 1));
        }
      }
      for (int i = 0; i < b.maxBlocksPerSeq; i++) {
        MemoryUtil.memPutInt(tableOff + 4L * (tableBase + i), b.blockTable[tableBase + i]);
      }
      for (int t = start; t < end; t++) {
        int tok = b.tokens[t];
        if (tok < 0 || tok >= vocab) {
          throw new IllegalArgumentException(
              "token id " + tok + " outside the vocabulary 0.." + (vocab - 1));
        }
        int p = pos0 + (t - start);
        int slot = b.blockTable[tableBase + p / bs] * bs + (p % bs);
        MemoryUtil.memPutInt(tokOff + 4L * t, tok);
        MemoryUtil.memPutInt(posOff + 4L * t, p);
        MemoryUtil.memPutInt(seqOff + 4L * t, s);
        MemoryUtil.memPutInt(slotOff + 4L * t, slot);
        if (b.allLogits) {
          MemoryUtil.memPutInt(rowOff + 4L * row++, t);
        }
      }
      if (!b.allLogits) {
        MemoryUtil.memPutInt(rowOff + 4L * row++, end - 1);
      }
    }
  }

  /**
   * Benchmarks only: while {@code phaseMs} is not null, each step runs without graphs and adds the
   * device milliseconds of each of {@link #PHASES} to it (events between kernel groups, so each
   * phase also carries its launch gaps); null turns it off.
   */
  void profile(double[] phaseMs) {
    if (phaseMs != null && phaseMs.length < PHASES.length) {
      throw new IllegalArgumentException("need " + PHASES.length + " phase slots");
    }
    profileMs = phaseMs;
    if (phaseMs != null && profEvents.length == 0) {
      int n = 8 + 9 * c.layers();
      profEvents = new long[n];
      profPhase = new int[n];
      try (MemoryStack s = stackPush()) {
        PointerBuffer p = s.mallocPointer(1);
        for (int i = 0; i < n; i++) {
          check(CU.cuEventCreate(p, CU.CU_EVENT_DEFAULT), "cuEventCreate");
          profEvents[i] = p.get(0);
        }
      }
    }
  }

  /** Kernel launches and copies the last non-graph step enqueued (a graph replays the same). */
  int launchesPerStep() {
    return lastLaunches;
  }

  private void mark(int phase) {
    if (profileMs == null || profCount >= profEvents.length) {
      return;
    }
    check(CU.cuEventRecord(profEvents[profCount], backend.stream), "cuEventRecord");
    profPhase[profCount++] = phase;
  }

  private void addProfile() {
    try (MemoryStack s = stackPush()) {
      var ms = s.mallocFloat(1);
      for (int i = 1; i < profCount; i++) {
        check(CU.cuEventElapsedTime(ms, profEvents[i - 1], profEvents[i]), "cuEventElapsedTime");
        profileMs[profPhase[i]] += ms.get(0);
      }
    }
  }

  private void destroyProfileEvents() {
    for (long e : profEvents) {
      CU.cuEventDestroy(e);
    }
    profEvents = new long[0];
    profileMs = null;
  }

  /** The step's device work: metadata in, layers, logits out (all on the stream). */
  private void enqueue(int tokens, int seqs, int table, int rows, int maxBlocksPerSeq) {
    long stream = backend.stream;
    int launches0 = k.launches;
    profCount = 0;
    mark(PH_META);
    long metaBytes = 4L * (5L * tokCap + table);
    check(CU.ncuMemcpyHtoDAsync(metaDev, metaHost, metaBytes, stream), "cuMemcpyHtoDAsync(meta)");
    mark(PH_META);
    long dTok = metaDev;
    long dPos = metaDev + 4L * tokCap;
    long dSeq = metaDev + 8L * tokCap;
    long dSlot = metaDev + 12L * tokCap;
    long dRows = metaDev + 16L * tokCap;
    long dTable = metaDev + 20L * tokCap;
    int dim = c.dim();
    int hidden = c.hiddenDim();
    float scale = (float) (1.0 / Math.sqrt(c.headDim()));
    float invRopeScale = 1.0f / c.ropeScale();
    boolean neox = c.ropeType() == RopeType.NEOX;

    // One token: the fused QKV and gate/up kernels apply their RMSNorm themselves (bit-identical).
    boolean normIn = fuseNorm && tokens == 1 && CudaKernels.canFuseNorm(dim);
    // Every sequence adds one token (decode): RoPE and the KV store can run inside attention.
    boolean ropeInAttention = fusedRope() && tokens == seqs;
    k.embed(
        embedding.type(),
        embedding.repacked(),
        embedding.ptr(),
        embedding.rowBytes(),
        dTok,
        x,
        dim,
        tokens);
    mark(PH_SMALL);
    for (int li = 0; li < layers.length; li++) {
      Layer l = layers[li];
      long kc = kCache + li * layerCacheBytes;
      long vc = vCache + li * layerCacheBytes;
      boolean fq =
          fuseQkv
              && l.wq().type() == l.wk().type()
              && l.wk().type() == l.wv().type()
              && l.wq().repacked() == l.wk().repacked()
              && l.wk().repacked() == l.wv().repacked();
      boolean normInQkv = fq && normIn;
      if (!normInQkv) {
        k.rmsnorm(x, l.attnNorm(), xb, dim, c.rmsEps(), tokens);
        mark(PH_SMALL);
      }
      if (fq) {
        k.matmulQkv(
            l.wq().type(),
            l.wq().repacked(),
            l.wq().ptr(),
            l.wk().ptr(),
            l.wv().ptr(),
            l.wq().rowBytes(),
            normInQkv ? x : xb,
            q,
            kk,
            vv,
            l.bq(),
            l.bk(),
            l.bv(),
            c.qDim(),
            c.kvDim(),
            dim,
            tokens,
            normInQkv ? l.attnNorm() : 0,
            c.rmsEps());
      } else {
        mm(l.wq(), xb, q, l.bq(), tokens, false);
        mm(l.wk(), xb, kk, l.bk(), tokens, false);
        mm(l.wv(), xb, vv, l.bv(), tokens, false);
      }
      mark(PH_QKV);
      int splits = CudaKernels.attentionSplits(tokens, c.heads(), attnTargetBlocks);
      if (ropeInAttention && splits > 1) {
        k.attentionRope(
            q,
            kk,
            vv,
            kc,
            vc,
            att,
            dSeq,
            dPos,
            dSlot,
            dTable,
            maxBlocksPerSeq,
            kv.blockSize(),
            c.heads(),
            c.kvHeads(),
            c.headDim(),
            scale,
            c.ropeDim(),
            c.ropeTheta(),
            invRopeScale,
            neox,
            ropeFreqs,
            tokens,
            splits,
            attnPartials,
            attnCounters);
        mark(PH_ATT);
      } else {
        k.ropeStore(
            q,
            kk,
            vv,
            kc,
            vc,
            dPos,
            dSlot,
            c.heads(),
            c.kvHeads(),
            c.headDim(),
            c.ropeDim(),
            c.ropeTheta(),
            invRopeScale,
            neox,
            ropeFreqs,
            tokens);
        mark(PH_SMALL);
        k.attention(
            q,
            kc,
            vc,
            att,
            dSeq,
            dPos,
            dTable,
            maxBlocksPerSeq,
            kv.blockSize(),
            c.heads(),
            c.kvHeads(),
            c.headDim(),
            scale,
            tokens,
            splits,
            attnPartials,
            attnCounters);
        mark(PH_ATT);
      }
      mm(l.wo(), att, x, 0, tokens, true);
      mark(PH_O);
      boolean fg =
          fuseGateUp
              && l.gate().type() == l.up().type()
              && l.gate().repacked() == l.up().repacked();
      boolean normInGateUp = fg && normIn;
      if (!normInGateUp) {
        k.rmsnorm(x, l.ffnNorm(), xb, dim, c.rmsEps(), tokens);
        mark(PH_SMALL);
      }
      if (fg) {
        k.matmulGateUp(
            l.gate().type(),
            l.gate().repacked(),
            l.gate().ptr(),
            l.up().ptr(),
            l.gate().rowBytes(),
            normInGateUp ? x : xb,
            hb,
            hidden,
            dim,
            tokens,
            normInGateUp ? l.ffnNorm() : 0,
            c.rmsEps());
      } else {
        mm(l.gate(), xb, hb, 0, tokens, false);
        mm(l.up(), xb, hb2, 0, tokens, false);
        k.swiglu(hb, hb2, hb, (long) tokens * hidden);
      }
      mark(PH_GATE_UP);
      mm(l.down(), hb, x, 0, tokens, true);
      mark(PH_DOWN);
    }
    k.gatherRows(x, dRows, xl, dim, rows);
    k.rmsnorm(xl, outputNorm, xl, dim, c.rmsEps(), rows);
    mark(PH_SMALL);
    mm(output, xl, logitsDev, 0, rows, false);
    mark(PH_OUT);
    check(
        CU.ncuMemcpyDtoHAsync(logitsHost, logitsDev, 4L * rows * c.vocabSize(), stream),
        "cuMemcpyDtoHAsync(logits)");
    mark(PH_COPY);
    lastLaunches = k.launches - launches0 + 2; // + the two copies
  }

  private void mm(Matrix m, long in, long out, long bias, int tokens, boolean accumulate) {
    k.matmul(
        m.type(),
        m.repacked(),
        m.ptr(),
        m.rowBytes(),
        in,
        out,
        bias,
        m.rows(),
        m.cols(),
        tokens,
        accumulate);
  }

  // ---- CUDA graphs for small steps ----

  private static long graphKey(int tokens, int seqs, int rows, int maxBlocksPerSeq) {
    if (seqs >= 1 << 12 || maxBlocksPerSeq >= 1 << 20) {
      return -1;
    }
    // tokens, rows <= GRAPH_MAX_TOKENS (7 bits each)
    return (long) tokens | (long) rows << 8 | (long) seqs << 16 | (long) maxBlocksPerSeq << 28;
  }

  private void runGraph(long key, int tokens, int seqs, int table, int rows, int maxBlocksPerSeq) {
    long exec = 0;
    for (int i = 0; i < graphCount; i++) {
      if (graphKeys[i] == key) {
        exec = graphExecs[i];
        break;
      }
    }
    if (exec == 0) {
      if (graphCount == GRAPH_CACHE) {
        destroyGraphs();
      }
      exec = capture(tokens, seqs, table, rows, maxBlocksPerSeq);
      graphKeys[graphCount] = key;
      graphExecs[graphCount++] = exec;
    }
    check(CU.cuGraphLaunch(exec, backend.stream), "cuGraphLaunch");
  }

  private long capture(int tokens, int seqs, int table, int rows, int maxBlocksPerSeq) {
    long stream = backend.stream;
    try (MemoryStack s = stackPush()) {
      PointerBuffer p = s.mallocPointer(1);
      check(
          CU.cuStreamBeginCapture_v2(stream, CU.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
          "cuStreamBeginCapture");
      try {
        enqueue(tokens, seqs, table, rows, maxBlocksPerSeq);
      } catch (RuntimeException e) {
        if (CU.cuStreamEndCapture(stream, p) == CU.CUDA_SUCCESS && p.get(0) != 0) {
          CU.cuGraphDestroy(p.get(0));
        }
        throw e;
      }
      check(CU.cuStreamEndCapture(stream, p), "cuStreamEndCapture");
      long graph = p.get(0);
      try {
        check(CU.cuGraphInstantiateWithFlags(p, graph, 0), "cuGraphInstantiateWithFlags");
        return p.get(0);
      } finally {
        CU.cuGraphDestroy(graph);
      }
    }
  }

  private void destroyGraphs() {
    for (int i = 0; i < graphCount; i++) {
      CU.cuGraphExecDestroy(graphExecs[i]);
    }
    graphCount = 0;
  }

  // ---- buffers ----

  private void ensureCapacity(int tokens, int table, int rows) {
    if (tokens <= tokCap && table <= tableCap && rows <= rowCap) {
      return;
    }
    destroyGraphs(); // they captured the old addresses
    backend.sync();
    if (tokens > tokCap || table > tableCap) {
      int newTok = Math.max(tokCap, Integer.highestOneBit(Math.max(tokens - 1, 1)) << 1);
      newTok = Math.max(newTok, 16);
      int newTable = Math.max(tableCap, Integer.highestOneBit(Math.max(table - 1, 1)) << 1);
      freeTokenBuffers();
      tokCap = newTok;
      tableCap = newTable;
      long metaBytes = 4L * (5L * tokCap + tableCap);
      try (MemoryStack s = stackPush()) {
        PointerBuffer p = s.mallocPointer(1);
        check(CU.cuMemAllocHost(p, metaBytes), "cuMemAllocHost", metaBytes);
        metaHost = p.get(0);
      }
      metaDev = backend.alloc(metaBytes);
      long t = tokCap;
      x = backend.alloc(4 * t * c.dim());
      xb = backend.alloc(4 * t * c.dim());
      xl = backend.alloc(4 * t * c.dim());
      q = backend.alloc(4 * t * c.qDim());
      att = backend.alloc(4 * t * c.qDim());
      kk = backend.alloc(4 * t * c.kvDim());
      vv = backend.alloc(4 * t * c.kvDim());
      hb = backend.alloc(4 * t * c.hiddenDim());
      hb2 = backend.alloc(4 * t * c.hiddenDim());
    }
    if (rows > rowCap) {
      freeLogitBuffers();
      rowCap = Math.max(rows, 16);
      long bytes = 4L * rowCap * c.vocabSize();
      logitsDev = backend.alloc(bytes);
      try (MemoryStack s = stackPush()) {
        PointerBuffer p = s.mallocPointer(1);
        check(CU.cuMemAllocHost(p, bytes), "cuMemAllocHost", bytes);
        logitsHost = p.get(0);
      }
      logitsView = MemoryUtil.memFloatBuffer(logitsHost, rowCap * c.vocabSize());
    }
  }

  private void freeTokenBuffers() {
    for (long p : new long[] {metaDev, x, xb, xl, q, att, kk, vv, hb, hb2}) {
      backend.free(p);
    }
    metaDev = x = xb = xl = q = att = kk = vv = hb = hb2 = 0;
    if (metaHost != 0) {
      check(CU.ncuMemFreeHost(metaHost), "cuMemFreeHost");
      metaHost = 0;
    }
    tokCap = 0;
    tableCap = 0;
  }

  private void freeLogitBuffers() {
    backend.free(logitsDev);
    logitsDev = 0;
    if (logitsHost != 0) {
      check(CU.ncuMemFreeHost(logitsHost), "cuMemFreeHost");
      logitsHost = 0;
    }
    logitsView = null;
    rowCap = 0;
  }

  private void freeAll() {
    destroyGraphs();
    destroyProfileEvents();
    freeTokenBuffers();
    freeLogitBuffers();
    for (long p : weightAllocations) {
      backend.free(p);
    }
    weightAllocations.clear();
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    backend.makeCurrent();
    backend.sync();
    freeAll();
    backend.forget(this);
  }
}
