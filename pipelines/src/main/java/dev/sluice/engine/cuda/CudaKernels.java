package dev.sluice.engine.cuda;

import static dev.sluice.engine.cuda.Cuda.check;
import static org.lwjgl.system.MemoryStack.stackPush;

import dev.sluice.engine.gguf.GgmlType;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.lwjgl.PointerBuffer;
import org.lwjgl.cuda.CU;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

/**
 * The kernels of {@code src/main/cuda/*.cu}, loaded from their PTX (built by nvcc at build time and
 * JIT-compiled by the driver at load: no NVRTC needed), and launched on one stream. Every launch
 * method is asynchronous; arguments are device pointers ({@code long}) and sizes. Launches reuse
 * one off-heap argument area, so they allocate nothing; the driver copies the arguments at launch.
 */
final class CudaKernels implements AutoCloseable {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(CudaKernels.class);
  static final String[] MODULES = {
    "elementwise", "attention", "matmul", "matmul_repacked", "attention_fused"
  };
  // matmul_repacked (CudaWeightLayout.REPACKED) and attention_fused (RoPE fused into decode
  // attention) are optional: if an image does not load, the backend runs without that path.
  private static final int REPACKED_MODULE = 3;
  private static final int FUSED_ATTENTION_MODULE = 4;
  private static final int MAX_ARGS = 24;

  private final long[] modules = new long[MODULES.length];
  private final long stream;
  private final long argValues = MemoryUtil.nmemCalloc(MAX_ARGS, 8);
  private final long argPointers = MemoryUtil.nmemCalloc(MAX_ARGS, 8);
  private int argc;

  /** Kernels launched so far (benchmarks count the launches of one step). */
  int launches;

  /** Which images were loaded, e.g. {@code sm90.cubin} (no JIT) or {@code sm90.ptx} (JIT). */
  final String ptxVariant;

  private final long[] embed = new long[GgmlType.values().length];
  private final long[] matmul1 = new long[GgmlType.values().length];
  private final long[] matmulB = new long[GgmlType.values().length];
  private final long[] qkv1 = new long[GgmlType.values().length];
  private final long[] qkvB = new long[GgmlType.values().length];
  private final long[] gateUp1 = new long[GgmlType.values().length];
  private final long[] gateUpB = new long[GgmlType.values().length];
  // Warps of each single-token kernel the whole GPU holds at once (occupancy x SMs): splitFor keeps
  // rows x split within one such wave when that does not cost a round of loads.
  private final int[] resident1 = new int[GgmlType.values().length];
  private final int[] residentQkv1 = new int[GgmlType.values().length];
  private final int[] residentGateUp1 = new int[GgmlType.values().length];
  // The same for the repacked layout (matmul_repacked.cu), 0 where a type has no repacked form.
  private final long[] embedR = new long[GgmlType.values().length];
  private final long[] matmul1R = new long[GgmlType.values().length];
  private final long[] matmulBR = new long[GgmlType.values().length];
  private final long[] qkv1R = new long[GgmlType.values().length];
  private final long[] qkvBR = new long[GgmlType.values().length];
  private final long[] gateUp1R = new long[GgmlType.values().length];
  private final long[] gateUpBR = new long[GgmlType.values().length];
  private final int[] resident1R = new int[GgmlType.values().length];
  private final int[] residentQkv1R = new int[GgmlType.values().length];
  private final int[] residentGateUp1R = new int[GgmlType.values().length];

  /** Whether the repacked-layout kernels loaded (else every model runs in the GGUF layout). */
  boolean repackedAvailable;

  // attention_fused.cu's decode kernel, 0 when its module did not load.
  private final long attentionRopeSplit;

  private final long rmsnorm;
  private final long ropeStore;
  private final long attention;
  private final long attentionSplit;
  private final long swiglu;
  private final long softmax;
  private final long add;
  private final long addBias;
  private final long gatherRows;
  private final long argmax;

  /**
   * Loads the kernels for a device of compute capability {@code ccMajor.ccMinor}: the sm_90 cubin
   * on 9.0 (unless {@code ptxOnly} or {@code -Dsluice.cuda.ptxOnly=true}), falling back to PTX,
   * which the driver JIT-compiles: compute_90 PTX on 9.x and newer, compute_80 PTX otherwise.
   */
  CudaKernels(int ccMajor, int ccMinor, long stream, boolean ptxOnly) {
    this.stream = stream;
    for (int i = 0; i < MAX_ARGS; i++) {
      MemoryUtil.memPutAddress(argPointers + 8L * i, argValues + 8L * i);
    }
    List<String> variants = new ArrayList<>();
    if (ccMajor == 9 && ccMinor == 0 && !ptxOnly && !Boolean.getBoolean("sluice.cuda.ptxOnly")) {
      variants.add("sm90.cubin");
    }
    variants.add(ccMajor >= 9 ? "sm90.ptx" : "sm80.ptx");
    Set<String> used = new LinkedHashSet<>();
    try {
      for (int i = 0; i < MODULES.length; i++) {
        RuntimeException first = null;
        for (String v : variants) {
          try {
            modules[i] = loadModule(MODULES[i], v);
            used.add(v);
            break;
          } catch (CudaException | IllegalStateException e) { // refused image, missing resource
            if (first == null) {
              first = e;
            }
            log.warn(
                "loading {}.{} failed, trying the next image: {}", MODULES[i], v, e.getMessage());
          }
        }
        if (modules[i] == 0) {
          if (i >= REPACKED_MODULE) {
            log.warn("optional kernels {} unavailable: {}", MODULES[i], first.getMessage());
            continue;
          }
          throw first;
        }
      }
      repackedAvailable = modules[REPACKED_MODULE] != 0;
      long ropeAtt = 0;
      if (modules[FUSED_ATTENTION_MODULE] != 0) {
        try {
          ropeAtt = function(FUSED_ATTENTION_MODULE, "attention_rope_split");
        } catch (CudaException e) {
          log.warn("attention_rope_split unavailable: {}", e.getMessage());
        }
      }
      attentionRopeSplit = ropeAtt;
      for (GgmlType t : GgmlType.values()) {
        String s = t.name().toLowerCase(Locale.ROOT);
        embed[t.ordinal()] = function(0, "embed_" + s);
        matmul1[t.ordinal()] = function(2, "matmul_" + s);
        matmulB[t.ordinal()] = function(2, "matmul_" + s + "_b");
        qkv1[t.ordinal()] = function(2, "matmul_qkv_" + s);
        qkvB[t.ordinal()] = function(2, "matmul_qkv_" + s + "_b");
        gateUp1[t.ordinal()] = function(2, "matmul_gate_up_" + s);
        gateUpB[t.ordinal()] = function(2, "matmul_gate_up_" + s + "_b");
      }
      int sms = multiprocessors();
      for (GgmlType t : GgmlType.values()) {
        resident1[t.ordinal()] = residentWarps(matmul1[t.ordinal()], sms);
        residentQkv1[t.ordinal()] = residentWarps(qkv1[t.ordinal()], sms);
        residentGateUp1[t.ordinal()] = residentWarps(gateUp1[t.ordinal()], sms);
      }
      if (repackedAvailable) {
        try {
          resolveRepacked(sms);
        } catch (CudaException e) {
          log.warn("repacked-layout kernels unavailable, GGUF layout only: {}", e.getMessage());
          repackedAvailable = false;
          for (long[] a : new long[][] {embedR, matmul1R, matmulBR, qkv1R, qkvBR, gateUp1R}) {
            java.util.Arrays.fill(a, 0);
          }
          java.util.Arrays.fill(gateUpBR, 0);
        }
      }
      rmsnorm = function(0, "rmsnorm");
      ropeStore = function(0, "rope_store");
      swiglu = function(0, "swiglu");
      softmax = function(0, "softmax");
      add = function(0, "add");
      addBias = function(0, "add_bias");
      gatherRows = function(0, "gather_rows");
      argmax = function(0, "argmax");
      attention = function(1, "attention");
      attentionSplit = function(1, "attention_split");
      this.ptxVariant = String.join("+", used);
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  private void resolveRepacked(int sms) {
    for (GgmlType t : GgmlType.values()) {
      if (CudaWeightLayout.supports(t)) {
        String s = t.name().toLowerCase(Locale.ROOT) + "_r";
        int o = t.ordinal();
        embedR[o] = function(REPACKED_MODULE, "embed_" + s);
        matmul1R[o] = function(REPACKED_MODULE, "matmul_" + s);
        matmulBR[o] = function(REPACKED_MODULE, "matmul_" + s + "_b");
        qkv1R[o] = function(REPACKED_MODULE, "matmul_qkv_" + s);
        qkvBR[o] = function(REPACKED_MODULE, "matmul_qkv_" + s + "_b");
        gateUp1R[o] = function(REPACKED_MODULE, "matmul_gate_up_" + s);
        gateUpBR[o] = function(REPACKED_MODULE, "matmul_gate_up_" + s + "_b");
        resident1R[o] = residentWarps(matmul1R[o], sms);
        residentQkv1R[o] = residentWarps(qkv1R[o], sms);
        residentGateUp1R[o] = residentWarps(gateUp1R[o], sms);
      }
    }
  }

  /**
   * Every kernel this class resolves, per module (checked against the committed PTX by a test that
   * needs no GPU).
   */
  static java.util.Map<String, List<String>> kernelNames() {
    java.util.List<String> elementwise =
        new java.util.ArrayList<>(
            java.util.List.of(
                "rmsnorm",
                "rope_store",
                "swiglu",
                "softmax",
                "add",
                "add_bias",
                "gather_rows",
                "argmax"));
    java.util.List<String> matmul = new java.util.ArrayList<>();
    java.util.List<String> repacked = new java.util.ArrayList<>();
    for (GgmlType t : GgmlType.values()) {
      String s = t.name().toLowerCase(Locale.ROOT);
      elementwise.add("embed_" + s);
      matmul.add("matmul_" + s);
      matmul.add("matmul_" + s + "_b");
      matmul.add("matmul_qkv_" + s);
      matmul.add("matmul_qkv_" + s + "_b");
      matmul.add("matmul_gate_up_" + s);
      matmul.add("matmul_gate_up_" + s + "_b");
      if (CudaWeightLayout.supports(t)) {
        String r = s + "_r";
        repacked.add("embed_" + r);
        repacked.add("matmul_" + r);
        repacked.add("matmul_" + r + "_b");
        repacked.add("matmul_qkv_" + r);
        repacked.add("matmul_qkv_" + r + "_b");
        repacked.add("matmul_gate_up_" + r);
        repacked.add("matmul_gate_up_" + r + "_b");
      }
    }
    return java.util.Map.of(
        "elementwise",
        elementwise,
        "attention",
        java.util.List.of("attention", "attention_split"),
        "matmul",
        matmul,
        "matmul_repacked",
        repacked,
        "attention_fused",
        java.util.List.of("attention_rope_split"));
  }

  private static long loadModule(String name, String variant) {
    String resource = "/cuda/" + name + "." + variant;
    byte[] ptx;
    try (InputStream in = CudaKernels.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException(
            "PTX resource " + resource + " missing from the class path (run build-ptx.sh)");
      }
      ptx = in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + resource, e);
    }
    ByteBuffer image = MemoryUtil.memAlloc(ptx.length + 1);
    int logSize = 16 * 1024;
    ByteBuffer log = MemoryUtil.memCalloc(logSize);
    try (MemoryStack s = stackPush()) {
      image.put(ptx).put((byte) 0).flip();
      IntBuffer opts = s.ints(CU.CU_JIT_ERROR_LOG_BUFFER, CU.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
      PointerBuffer vals = s.mallocPointer(2);
      vals.put(0, MemoryUtil.memAddress(log)).put(1, logSize);
      PointerBuffer module = s.mallocPointer(1);
      int rc = CU.cuModuleLoadDataEx(module, image, opts, vals);
      if (rc != CU.CUDA_SUCCESS) {
        String jitLog = MemoryUtil.memASCII(MemoryUtil.memAddress(log)).strip();
        throw new CudaException(
            "cuModuleLoadDataEx(" + resource + ")", rc, Cuda.errorName(rc), jitLog);
      }
      return module.get(0);
    } finally {
      MemoryUtil.memFree(image);
      MemoryUtil.memFree(log);
    }
  }

  /** SMs of the current context's device (132 assumed when the driver does not say). */
  private static int multiprocessors() {
    try (MemoryStack s = stackPush()) {
      IntBuffer dev = s.ints(0);
      IntBuffer v = s.ints(0);
      if (CU.cuCtxGetDevice(dev) == CU.CUDA_SUCCESS
          && CU.cuDeviceGetAttribute(v, CU.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev.get(0))
              == CU.CUDA_SUCCESS
          && v.get(0) > 0) {
        return v.get(0);
      }
      return 132;
    }
  }

  /**
   * Warps of a 256-thread single-token kernel resident on the whole GPU (4 blocks per SM, the
   * register-limited worst case of these kernels, when the driver does not say).
   */
  private static int residentWarps(long fn, int sms) {
    try (MemoryStack s = stackPush()) {
      IntBuffer n = s.ints(0);
      int blocks = 4;
      if (CU.cuOccupancyMaxActiveBlocksPerMultiprocessor(n, fn, 256, 0) == CU.CUDA_SUCCESS
          && n.get(0) > 0) {
        blocks = n.get(0);
      }
      return blocks * WARPS1 * sms;
    }
  }

  private long function(int module, String name) {
    try (MemoryStack s = stackPush()) {
      PointerBuffer f = s.mallocPointer(1);
      check(
          CU.cuModuleGetFunction(f, modules[module], name),
          "cuModuleGetFunction(" + MODULES[module] + ", " + name + ")");
      return f.get(0);
    }
  }

  // ---- argument packing ----

  private CudaKernels args() {
    argc = 0;
    return this;
  }

  private CudaKernels p(long v) {
    MemoryUtil.memPutLong(argValues + 8L * argc++, v);
    return this;
  }

  private CudaKernels i(int v) {
    MemoryUtil.memPutInt(argValues + 8L * argc++, v);
    return this;
  }

  private CudaKernels f(float v) {
    MemoryUtil.memPutFloat(argValues + 8L * argc++, v);
    return this;
  }

  private void launch(long fn, int gx, int gy, int block, String name) {
    launch(fn, gx, gy, block, 0, name);
  }

  private void launch3(long fn, int gx, int gy, int gz, int block, String name) {
    launches++;
    int rc = CU.ncuLaunchKernel(fn, gx, gy, gz, block, 1, 1, 0, stream, argPointers, 0L);
    if (rc != CU.CUDA_SUCCESS) {
      check(rc, "cuLaunchKernel(" + name + ", grid " + gx + "x" + gy + "x" + gz + ")");
    }
  }

  private void launch(long fn, int gx, int gy, int block, int sharedBytes, String name) {
    launches++;
    int rc = CU.ncuLaunchKernel(fn, gx, gy, 1, block, 1, 1, sharedBytes, stream, argPointers, 0L);
    if (rc != CU.CUDA_SUCCESS) {
      check(
          rc,
          "cuLaunchKernel("
              + name
              + ", grid "
              + gx
              + "x"
              + gy
              + ", block "
              + block
              + ", shared "
              + sharedBytes
              + ")");
    }
  }

  /**
   * Whether the single-token QKV and gate/up kernels can apply the RMSNorm of their input row
   * themselves (the normalised row must fit the default 48 KiB of dynamic shared memory).
   */
  static boolean canFuseNorm(int cols) {
    return 4L * cols <= 48 * 1024;
  }

  private static int gridFor(long n, int block) {
    return (int) Math.max(1, Math.min((n + block - 1) / block, 1 << 16));
  }

  // ---- kernels (shapes: see the .cu sources) ----

  void embed(GgmlType type, long w, long rowBytes, long tokens, long out, int dim, int tokensN) {
    embed(type, false, w, rowBytes, tokens, out, dim, tokensN);
  }

  /** As above; {@code repacked}: the table is in {@link CudaWeightLayout#REPACKED}'s layout. */
  void embed(
      GgmlType type,
      boolean repacked,
      long w,
      long rowBytes,
      long tokens,
      long out,
      int dim,
      int tokensN) {
    args().p(w).p(rowBytes).p(tokens).p(out).i(dim);
    launch(fn(embed, embedR, type, repacked), tokensN, 1, 256, name("embed_", type, repacked));
  }

  /**
   * The kernel of {@code type} in the GGUF ({@code gguf[]}) or repacked ({@code rep[]}) layout;
   * fails, naming the type, where the repacked one does not exist or did not load.
   */
  private long fn(long[] gguf, long[] rep, GgmlType type, boolean repacked) {
    if (!repacked) {
      return gguf[type.ordinal()];
    }
    long f = rep[type.ordinal()];
    if (f == 0) {
      throw new IllegalArgumentException(
          "no repacked-layout kernels for "
              + type
              + (repackedAvailable ? "" : " (matmul_repacked did not load)"));
    }
    return f;
  }

  private static String name(String prefix, GgmlType type, boolean repacked) {
    return prefix + type + (repacked ? "_R" : "");
  }

  void rmsnorm(long x, long w, long out, int dim, float eps, int rows) {
    args().p(x).p(w).p(out).i(dim).f(eps);
    launch(rmsnorm, rows, 1, 256, "rmsnorm");
  }

  /** y (T, rows) = x (T, cols) * W^T (+ bias) (+ y when accumulate). */
  void matmul(
      GgmlType type,
      long w,
      long rowBytes,
      long x,
      long y,
      long bias,
      int rows,
      int cols,
      int tokens,
      boolean accumulate) {
    matmul(type, false, w, rowBytes, x, y, bias, rows, cols, tokens, accumulate);
  }

  /** As above, {@code repacked}: W in {@link CudaWeightLayout#REPACKED}'s layout. */
  void matmul(
      GgmlType type,
      boolean repacked,
      long w,
      long rowBytes,
      long x,
      long y,
      long bias,
      int rows,
      int cols,
      int tokens,
      boolean accumulate) {
    args().p(w).p(rowBytes).p(x).p(y).p(bias).i(rows).i(cols).i(tokens).i(accumulate ? 1 : 0);
    String name = name("matmul_", type, repacked);
    if (tokens == 1) {
      int resident = (repacked ? resident1R : resident1)[type.ordinal()];
      int split = splitFor(type, repacked, rows, cols, resident);
      i(split);
      launch(fn(matmul1, matmul1R, type, repacked), gridFor1(rows, split), 1, 256, name);
    } else {
      launch(fn(matmulB, matmulBR, type, repacked), (rows + 3) / 4, (tokens + 31) / 32, 128, name);
    }
  }

  private static void checkNorm(long normW, int cols, int tokens) {
    if (normW != 0 && (tokens != 1 || !canFuseNorm(cols))) {
      throw new IllegalArgumentException(
          "fused RMSNorm needs one token and at most 12288 columns, got "
              + tokens
              + " tokens x "
              + cols);
    }
  }

  // The single-token kernels run 8 warps per block, `split` of them per row (see matmul.cu).
  private static final int WARPS1 = 8;
  // Enough warps for a few waves over an H100/H200 (132 SMs x ~40 resident warps of these kernels).
  private static final int TARGET_WARPS = 12288;

  // Columns one warp covers per round of loads in the single-token dot products (U steps loaded
  // before any arithmetic: ~1024 weights per warp per round for every type, see matmul.cu).
  private static final int COLS_PER_ROUND = 1024;

  /** {@link #splitFor(GgmlType, int, int, int)} on an H100/H200 at 5 resident blocks per SM. */
  static int splitFor(GgmlType type, int rows, int cols) {
    return splitFor(type, rows, cols, 132 * 5 * WARPS1);
  }

  /**
   * Warps per row of a single-token matmul, among 1, 2, 4, 8 that keep rows x split within {@value
   * #TARGET_WARPS}, each part at least 128 columns and one unit (a 16-byte vector or a quant
   * block): the one with the fewest dependent rounds of loads per SM, waves x rounds per warp,
   * where a wave is {@code residentWarps} (what the GPU holds at once) and a warp loads {@value
   * #COLS_PER_ROUND} columns per round; ties go to the smaller split (fewer idle load slots and a
   * smaller reduction). 1 when the width is not a whole number of units (the scalar-tail paths).
   *
   * <p>Why not simply "as many warps as fit 12288" (the first version): once each warp's part is
   * one round, more warps only add waves. Qwen2-1.5B o-proj at split 8 was 12288 warps for 8448
   * resident on an H200: two waves of one round, no better than split 1's one wave of two rounds.
   */
  static int splitFor(GgmlType type, int rows, int cols, int residentWarps) {
    return splitFor(type, false, rows, cols, residentWarps);
  }

  /**
   * As above for either layout: a repacked matrix splits on whole 256-weight groups, and its dot
   * products load more columns per round ({@link #colsPerRound}).
   */
  static int splitFor(GgmlType type, boolean repacked, int rows, int cols, int residentWarps) {
    int unit =
        repacked
            ? CudaWeightLayout.GROUP
            : switch (type) {
              case F32 -> 4;
              case F16, BF16 -> 8;
              default -> type.blockSize;
            };
    int colsPerRound = colsPerRound(type, repacked);
    if (cols % unit != 0) {
      return 1;
    }
    int units = cols / unit;
    int resident = Math.max(WARPS1, residentWarps);
    int best = 1;
    long bestCost = Long.MAX_VALUE;
    for (int split = 1; split <= WARPS1; split *= 2) {
      if (split > 1
          && ((long) rows * split > TARGET_WARPS || cols / split < 128 || units < split)) {
        break;
      }
      long waves = ((long) rows * split + resident - 1) / resident;
      long partCols = (long) (units + split - 1) / split * unit;
      long rounds = (partCols + colsPerRound - 1) / colsPerRound;
      long cost = waves * rounds;
      if (cost < bestCost) {
        bestCost = cost;
        best = split;
      }
    }
    return best;
  }

  /**
   * Columns a warp covers per round of loads in a single-token dot product: {@value
   * #COLS_PER_ROUND} for the GGUF kernels; repacked (matmul_repacked.cu, 4 chunks of 16 bytes per
   * lane) 2048 for Q8_0 (16 weights per chunk) and 4096 for Q4_0 and Q4_K (32); F16 6 chunks of 8:
   * 1536.
   */
  static int colsPerRound(GgmlType type, boolean repacked) {
    if (!repacked) {
      return COLS_PER_ROUND;
    }
    return switch (type) {
      case Q4_0 -> WARP_LANES * REPACKED_CHUNKS * 32;
      case F16 -> WARP_LANES * F16_CHUNKS * 8;
      case Q4_K -> WARP_LANES * REPACKED_CHUNKS * 32;
      default -> WARP_LANES * REPACKED_CHUNKS * 16;
    };
  }

  private static final int WARP_LANES = 32;
  // matmul_repacked.cu's Q8R_U / Q4R_U and F16R_U (16-byte chunks per lane per round)
  private static final int REPACKED_CHUNKS = 4;
  private static final int F16_CHUNKS = 6;

  private static int gridFor1(int rows, int split) {
    int rowsPerBlock = WARPS1 / split;
    return (rows + rowsPerBlock - 1) / rowsPerBlock;
  }

  /** q, k, v (T, rowsQ / rowsKV) from three weights of one type and width, biases or 0. */
  void matmulQkv(
      GgmlType type,
      long wq,
      long wk,
      long wv,
      long rowBytes,
      long x,
      long yq,
      long yk,
      long yv,
      long bq,
      long bk,
      long bv,
      int rowsQ,
      int rowsKv,
      int cols,
      int tokens) {
    matmulQkv(
        type, wq, wk, wv, rowBytes, x, yq, yk, yv, bq, bk, bv, rowsQ, rowsKv, cols, tokens, 0, 0f);
  }

  /**
   * As above; with {@code normW} not 0 (one token only, {@link #canFuseNorm}), x is the raw
   * residual row and the kernel applies RMSNorm (weights {@code normW}, epsilon {@code eps}) first.
   */
  void matmulQkv(
      GgmlType type,
      long wq,
      long wk,
      long wv,
      long rowBytes,
      long x,
      long yq,
      long yk,
      long yv,
      long bq,
      long bk,
      long bv,
      int rowsQ,
      int rowsKv,
      int cols,
      int tokens,
      long normW,
      float eps) {
    matmulQkv(
        type, false, wq, wk, wv, rowBytes, x, yq, yk, yv, bq, bk, bv, rowsQ, rowsKv, cols, tokens,
        normW, eps);
  }

  /**
   * As above, {@code repacked}: the three weights in {@link CudaWeightLayout#REPACKED}'s layout.
   */
  void matmulQkv(
      GgmlType type,
      boolean repacked,
      long wq,
      long wk,
      long wv,
      long rowBytes,
      long x,
      long yq,
      long yk,
      long yv,
      long bq,
      long bk,
      long bv,
      int rowsQ,
      int rowsKv,
      int cols,
      int tokens,
      long normW,
      float eps) {
    checkNorm(normW, cols, tokens);
    args().p(wq).p(wk).p(wv).p(rowBytes).p(x).p(yq).p(yk).p(yv).p(bq).p(bk).p(bv);
    i(rowsQ).i(rowsKv).i(cols).i(tokens);
    int total = rowsQ + 2 * rowsKv;
    String name = name("matmul_qkv_", type, repacked);
    if (tokens == 1) {
      int resident = (repacked ? residentQkv1R : residentQkv1)[type.ordinal()];
      int split = splitFor(type, repacked, total, cols, resident);
      i(split).p(normW).f(eps);
      launch(
          fn(qkv1, qkv1R, type, repacked),
          gridFor1(total, split),
          1,
          256,
          normW != 0 ? 4 * cols : 0,
          name);
    } else {
      launch(fn(qkvB, qkvBR, type, repacked), (total + 3) / 4, (tokens + 31) / 32, 128, name);
    }
  }

  /** y (T, rows) = silu(x Wg^T) * (x Wu^T). */
  void matmulGateUp(
      GgmlType type,
      long wg,
      long wu,
      long rowBytes,
      long x,
      long y,
      int rows,
      int cols,
      int tokens) {
    matmulGateUp(type, wg, wu, rowBytes, x, y, rows, cols, tokens, 0, 0f);
  }

  /**
   * As above, with the fused RMSNorm of {@link #matmulQkv(GgmlType, long, long, long, long, long,
   * long, long, long, long, long, long, int, int, int, int, long, float)}.
   */
  void matmulGateUp(
      GgmlType type,
      long wg,
      long wu,
      long rowBytes,
      long x,
      long y,
      int rows,
      int cols,
      int tokens,
      long normW,
      float eps) {
    matmulGateUp(type, false, wg, wu, rowBytes, x, y, rows, cols, tokens, normW, eps);
  }

  /** As above, {@code repacked}: both weights in {@link CudaWeightLayout#REPACKED}'s layout. */
  void matmulGateUp(
      GgmlType type,
      boolean repacked,
      long wg,
      long wu,
      long rowBytes,
      long x,
      long y,
      int rows,
      int cols,
      int tokens,
      long normW,
      float eps) {
    checkNorm(normW, cols, tokens);
    args().p(wg).p(wu).p(rowBytes).p(x).p(y).i(rows).i(cols).i(tokens);
    String name = name("matmul_gate_up_", type, repacked);
    if (tokens == 1) {
      int resident = (repacked ? residentGateUp1R : residentGateUp1)[type.ordinal()];
      int split = splitFor(type, repacked, rows, cols, resident);
      i(split).p(normW).f(eps);
      launch(
          fn(gateUp1, gateUp1R, type, repacked),
          gridFor1(rows, split),
          1,
          256,
          normW != 0 ? 4 * cols : 0,
          name);
    } else {
      launch(fn(gateUpB, gateUpBR, type, repacked), (rows + 3) / 4, (tokens + 31) / 32, 128, name);
    }
  }

  void ropeStore(
      long q,
      long k,
      long v,
      long kcache,
      long vcache,
      long tokPos,
      long tokSlot,
      int heads,
      int kvHeads,
      int headDim,
      int ropeDim,
      float theta,
      float invScale,
      boolean neox,
      long freqFactors,
      int tokens) {
    args().p(q).p(k).p(v).p(kcache).p(vcache).p(tokPos).p(tokSlot);
    i(heads).i(kvHeads).i(headDim).i(ropeDim).f(theta).f(invScale).i(neox ? 1 : 0).p(freqFactors);
    // One thread per query-head rotation pair (up to 1024): each pair's powf/sincosf and its
    // load-rotate-store then run side by side instead of 6 dependent rounds on 128 threads.
    int pairs = heads * (ropeDim / 2);
    int block = Math.clamp((pairs + 31) / 32 * 32, 128, 1024);
    launch(ropeStore, tokens, 1, block, "rope_store");
  }

  /** Upper bound of {@link #attentionSplits}: attention.cu's MAX_SPLITS. */
  static final int MAX_ATTENTION_SPLITS = 64;

  /**
   * Position splits per (token, head) for flash-decoding: enough blocks for about two per SM
   * ({@code targetBlocks}), 1 (the single-block kernel) when {@code tokens * heads} fills the GPU
   * already. Depends only on the batch shape, not on positions, so a captured graph stays valid.
   */
  static int attentionSplits(int tokens, int heads, int targetBlocks) {
    long blocks = (long) tokens * heads;
    if (blocks * 2 > targetBlocks) {
      return 1;
    }
    return (int) Math.min(MAX_ATTENTION_SPLITS, (targetBlocks + blocks - 1) / blocks);
  }

  /**
   * Floats of partial results that {@link #attention} needs for {@code splits > 1}: at most {@code
   * 2 * targetBlocks * (headDim + 2)} for any {@code tokens} given {@link #attentionSplits}.
   */
  static long attentionPartialFloats(int tokens, int heads, int headDim, int splits) {
    return splits <= 1 ? 0 : (long) tokens * heads * splits * (headDim + 2);
  }

  /** Attention with the single-block-per-(token, head) kernel (no scratch). */
  void attention(
      long q,
      long kcache,
      long vcache,
      long out,
      long tokSeq,
      long tokPos,
      long blockTable,
      int maxBlocksPerSeq,
      int blockSize,
      int heads,
      int kvHeads,
      int headDim,
      float scale,
      int tokens) {
    attention(
        q,
        kcache,
        vcache,
        out,
        tokSeq,
        tokPos,
        blockTable,
        maxBlocksPerSeq,
        blockSize,
        heads,
        kvHeads,
        headDim,
        scale,
        tokens,
        1,
        0,
        0);
  }

  /**
   * Causal paged attention. With {@code splits > 1}, flash-decoding: each (token, head) is split
   * over {@code splits} blocks along positions ({@code attention_split}); {@code partials} holds
   * {@link #attentionPartialFloats} floats and {@code counters} {@code tokens * heads} ints that
   * are zero before the first launch (the kernel leaves them zero).
   */
  void attention(
      long q,
      long kcache,
      long vcache,
      long out,
      long tokSeq,
      long tokPos,
      long blockTable,
      int maxBlocksPerSeq,
      int blockSize,
      int heads,
      int kvHeads,
      int headDim,
      float scale,
      int tokens,
      int splits,
      long partials,
      long counters) {
    args().p(q).p(kcache).p(vcache).p(out).p(tokSeq).p(tokPos).p(blockTable);
    i(maxBlocksPerSeq).i(blockSize).i(heads).i(kvHeads).i(headDim).f(scale);
    if (splits <= 1) {
      launch(attention, tokens, heads, 1024, "attention"); // ATT_WARPS (32) warps: attention.cu
      return;
    }
    if (splits > MAX_ATTENTION_SPLITS) {
      throw new IllegalArgumentException("attention splits " + splits + " > 64");
    }
    long parts = (long) tokens * heads * splits;
    p(partials).p(partials + 4L * parts * headDim).p(counters);
    launch3(attentionSplit, tokens, heads, splits, 128, "attention_split"); // SPLIT_WARPS (4)
  }

  /** Whether {@link #attentionRope} can run (attention_fused loaded). */
  boolean ropeAttentionAvailable() {
    return attentionRopeSplit != 0;
  }

  /**
   * Decode attention with RoPE and the KV store fused in (attention_fused.cu): for steps whose
   * every sequence adds one token. {@code q}, {@code k}, {@code v} are the raw projections; q is
   * rotated per block (not written back), the rotated k and the v of each token are stored at
   * {@code tokSlot} in the caches, and the output is what {@link #ropeStore} followed by {@link
   * #attention} gives. {@code splits > 1} only (flash-decoding scratch as {@link #attention}).
   */
  void attentionRope(
      long q,
      long k,
      long v,
      long kcache,
      long vcache,
      long out,
      long tokSeq,
      long tokPos,
      long tokSlot,
      long blockTable,
      int maxBlocksPerSeq,
      int blockSize,
      int heads,
      int kvHeads,
      int headDim,
      float scale,
      int ropeDim,
      float theta,
      float invScale,
      boolean neox,
      long freqFactors,
      int tokens,
      int splits,
      long partials,
      long counters) {
    if (attentionRopeSplit == 0) {
      throw new IllegalStateException("attention_rope_split did not load (attention_fused)");
    }
    if (splits < 2 || splits > MAX_ATTENTION_SPLITS) {
      throw new IllegalArgumentException("fused rope attention needs 2..64 splits, got " + splits);
    }
    args().p(q).p(k).p(v).p(kcache).p(vcache).p(out).p(tokSeq).p(tokPos).p(tokSlot).p(blockTable);
    i(maxBlocksPerSeq).i(blockSize).i(heads).i(kvHeads).i(headDim).f(scale);
    i(ropeDim).f(theta).f(invScale).i(neox ? 1 : 0).p(freqFactors);
    long parts = (long) tokens * heads * splits;
    p(partials).p(partials + 4L * parts * headDim).p(counters);
    launch3(attentionRopeSplit, tokens, heads, splits, 128, "attention_rope_split");
  }

  void swiglu(long gate, long up, long out, long n) {
    args().p(gate).p(up).p(out).p(n);
    launch(swiglu, gridFor(n, 256), 1, 256, "swiglu");
  }

  void softmax(long x, int n, int rows) {
    args().p(x).i(n);
    launch(softmax, rows, 1, 256, "softmax");
  }

  void add(long y, long x, long n) {
    args().p(y).p(x).p(n);
    launch(add, gridFor(n, 256), 1, 256, "add");
  }

  void addBias(long y, long b, int n, long total) {
    args().p(y).p(b).i(n).p(total);
    launch(addBias, gridFor(total, 256), 1, 256, "add_bias");
  }

  void gatherRows(long x, long rows, long out, int dim, int count) {
    args().p(x).p(rows).p(out).i(dim);
    launch(gatherRows, count, 1, 256, "gather_rows");
  }

  void argmax(long x, int n, long out, int rows) {
    args().p(x).i(n).p(out);
    launch(argmax, rows, 1, 256, "argmax");
  }

  private boolean closed;

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (int i = 0; i < modules.length; i++) {
      if (modules[i] != 0) {
        CU.cuModuleUnload(modules[i]);
        modules[i] = 0;
      }
    }
    MemoryUtil.nmemFree(argValues);
    MemoryUtil.nmemFree(argPointers);
  }
}
