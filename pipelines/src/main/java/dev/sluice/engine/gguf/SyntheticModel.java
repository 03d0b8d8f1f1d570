package dev.sluice.engine.gguf;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Writes GGUF models with seeded random weights in the shape of a real model ({@code llama} or
 * {@code qwen2}) and a chosen tensor-type mix, for parity tests and benchmarks: the same file runs
 * in Sluice and in llama.cpp. The vocabulary comes from a real GGUF vocabulary file (its {@code
 * tokenizer.*} keys are copied) or is a synthetic SentencePiece-style list.
 *
 * <p>Weights are scaled so activations stay sane through any depth: embeddings N(0, 1) (untied),
 * matrices N(0, 1/fan_in) (those writing into the residual stream a few times larger), norms near
 * 1. The output matrix is scaled by {@link Builder#outputScale} so that greedy choices have clear
 * logit margins (random logits of unit spread would leave near-ties that rounding differences
 * between engines could flip). The same seed always gives the same bytes, whatever the thread count
 * (each row has its own random stream).
 */
public final class SyntheticModel {

  /** The hyper-parameters of a model family member. {@code vocab} 0 takes the vocabulary's size. */
  public record Shape(
      String name,
      String arch,
      int dim,
      int layers,
      int heads,
      int kvHeads,
      int ffn,
      int vocab,
      boolean tiedOutput,
      float ropeTheta,
      float rmsEps,
      int contextLength) {

    public Shape {
      if (!arch.equals("llama") && !arch.equals("qwen2")) {
        throw new IllegalArgumentException("arch must be llama or qwen2, got " + arch);
      }
      if (dim % heads != 0 || heads % kvHeads != 0) {
        throw new IllegalArgumentException(
            name + ": dim " + dim + ", heads " + heads + ", kvHeads " + kvHeads + " do not divide");
      }
    }

    /** stories15M (Karpathy's tinyllamas): llama, 288 wide, 6 layers, SentencePiece 32000. */
    public static final Shape STORIES_15M =
        new Shape("stories15M", "llama", 288, 6, 6, 6, 768, 0, false, 10000f, 1e-5f, 256);

    /** Qwen2.5-0.5B: qwen2, 896 wide, 24 layers, GQA 14/2, tied embeddings, theta 1e6. */
    public static final Shape QWEN25_05B =
        new Shape("qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 0, true, 1e6f, 1e-6f, 32768);

    /** DeepSeek-R1-Distill-Qwen-1.5B: qwen2, 1536 wide, 28 layers, GQA 12/2, separate output. */
    public static final Shape R1_DISTILL_QWEN_15B =
        new Shape(
            "r1-distill-qwen-1.5b", "qwen2", 1536, 28, 12, 2, 8960, 0, false, 1e4f, 1e-6f, 131072);

    /** A small test shape; qwen2 ones use GQA, tied output and theta 1e6 like Qwen2.5. */
    public static Shape small(String arch, int dim, int layers, int heads, int kvHeads, int ffn) {
      boolean qwen = arch.equals("qwen2");
      return new Shape(
          arch + "-small-" + dim,
          arch,
          dim,
          layers,
          heads,
          kvHeads,
          ffn,
          0,
          qwen,
          qwen ? 1e6f : 10000f,
          qwen ? 1e-6f : 1e-5f,
          512);
    }

    public int headDim() {
      return dim / heads;
    }

    public int kvDim() {
      return kvHeads * headDim();
    }
  }

  /**
   * Which type each weight matrix gets. Norms and biases are always F32 (as llama.cpp writes them).
   * A matrix whose row width is not a multiple of the chosen type's block falls back, as
   * llama.cpp's quantizer does, to a type that fits: K-quants to their 32-block sibling (Q4_K to
   * Q4_0, Q6_K to Q8_0), 32-block types to F16.
   */
  public enum TypeMix {
    F32(0),
    F16(1),
    BF16(32),
    Q8_0(7),
    Q4_0(2),
    Q4_K(14), // every matrix Q4_K (llama.cpp's Q4_K_S gives a few Q5_K, which Sluice lacks)
    Q6_K(18),
    /** llama.cpp's Q4_K_M: Q4_K, with Q6_K for output and for attn_v/ffn_down of some layers. */
    Q4_K_M(15);

    /** {@code general.file_type} (llama_ftype) written for the mix. */
    public final int fileType;

    TypeMix(int fileType) {
      this.fileType = fileType;
    }

    /** The type of matrix {@code tensor} (e.g. {@code ffn_down}) of layer {@code layer}. */
    public GgmlType typeFor(String tensor, int layer, int layers, int rowWidth) {
      GgmlType t =
          switch (this) {
            case F32 -> GgmlType.F32;
            case F16 -> GgmlType.F16;
            case BF16 -> GgmlType.BF16;
            case Q8_0 -> GgmlType.Q8_0;
            case Q4_0 -> GgmlType.Q4_0;
            case Q4_K -> GgmlType.Q4_K;
            case Q6_K -> GgmlType.Q6_K;
            case Q4_K_M -> {
              if (tensor.equals("output")) {
                yield GgmlType.Q6_K;
              }
              boolean moreBits =
                  layer < layers / 8
                      || layer >= 7 * layers / 8
                      || (layer - layers / 8) % 3 == 2; // llama.cpp's use_more_bits
              yield (tensor.equals("attn_v") || tensor.equals("ffn_down")) && moreBits
                  ? GgmlType.Q6_K
                  : GgmlType.Q4_K;
            }
          };
      return fits(t, rowWidth);
    }

    private static GgmlType fits(GgmlType t, int rowWidth) {
      if (rowWidth % t.blockSize == 0) {
        return t;
      }
      GgmlType fallback =
          switch (t) {
            case Q4_K -> GgmlType.Q4_0;
            case Q6_K -> GgmlType.Q8_0;
            default -> GgmlType.F16;
          };
      return fits(fallback, rowWidth);
    }
  }

  /**
   * Gain of the matrices that write into the residual stream (attn_output, ffn_down). With a tied
   * embedding the current token's own row scores |e|^2 / rms(h) against logits of spread |e|: a
   * residual stream a few times larger than the embedding keeps that self-score from winning every
   * step (a model that only repeats its input would make a weak parity test).
   */
  static final float RESIDUAL_GAIN = 12f;

  private SyntheticModel() {}

  public static Builder builder(Shape shape, TypeMix mix) {
    return new Builder(shape, mix);
  }

  /** Collects the options of one model file. */
  public static final class Builder {
    private final Shape shape;
    private final TypeMix mix;
    private long seed = 42;
    private float outputScale = 8f;
    private Path vocabFile;
    private int syntheticVocab = 512;

    private Builder(Shape shape, TypeMix mix) {
      this.shape = shape;
      this.mix = mix;
    }

    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    /**
     * Standard deviation of the logits for a unit-RMS hidden state (default 4): larger values
     * spread the logits, so greedy choices have wider margins. Ignored for tied output (the
     * embedding is the output; its N(0, 1) rows give logits of spread sqrt(dim)).
     */
    public Builder outputScale(float outputScale) {
      this.outputScale = outputScale;
      return this;
    }

    /** Copies the {@code tokenizer.*} keys of this GGUF file (e.g. ggml-vocab-qwen2.gguf). */
    public Builder vocabFrom(Path vocabFile) {
      this.vocabFile = vocabFile;
      return this;
    }

    /**
     * A synthetic SentencePiece vocabulary of {@code n >= 259} tokens instead of a file: {@code
     * <unk>}, {@code <s>}, {@code </s>}, the 256 byte tokens and made-up pieces. Only for {@code
     * llama}; qwen2 models need a real BPE vocabulary file.
     */
    public Builder syntheticVocab(int n) {
      if (n < 259) {
        throw new IllegalArgumentException("a synthetic vocabulary needs >= 259 tokens, got " + n);
      }
      this.syntheticVocab = n;
      this.vocabFile = null;
      return this;
    }

    /** Writes the model to {@code path}. */
    public void write(Path path) throws IOException {
      GgufWriter w = new GgufWriter();
      String a = shape.arch;
      w.putString("general.architecture", a);
      w.putString("general.name", shape.name + "-synthetic-" + mix.name().toLowerCase(Locale.ROOT));
      w.putUInt32("general.file_type", mix.fileType);
      w.putUInt32("general.alignment", 32);
      int vocab;
      if (vocabFile != null) {
        try (GgufFile v = GgufFile.open(vocabFile)) {
          w.copyMetadata(v, "tokenizer.");
          vocab = v.require("tokenizer.ggml.tokens", String[].class).length;
        }
      } else {
        if (!a.equals("llama")) {
          throw new IllegalArgumentException(
              shape.name + ": a qwen2 model needs a BPE vocabulary file (vocabFrom)");
        }
        vocab = syntheticVocab;
        putSyntheticSpm(w, vocab);
      }
      if (shape.vocab != 0 && shape.vocab != vocab) {
        // llama.cpp requires the embedding rows to equal the token list length
        throw new IllegalArgumentException(
            shape.name + " has " + shape.vocab + " tokens, the vocabulary has " + vocab);
      }
      w.putUInt32(a + ".vocab_size", vocab);
      w.putUInt32(a + ".context_length", shape.contextLength);
      w.putUInt32(a + ".embedding_length", shape.dim);
      w.putUInt32(a + ".block_count", shape.layers);
      w.putUInt32(a + ".feed_forward_length", shape.ffn);
      w.putUInt32(a + ".attention.head_count", shape.heads);
      w.putUInt32(a + ".attention.head_count_kv", shape.kvHeads);
      w.putFloat32(a + ".attention.layer_norm_rms_epsilon", shape.rmsEps);
      w.putFloat32(a + ".rope.freq_base", shape.ropeTheta);
      w.putUInt32(a + ".rope.dimension_count", shape.headDim());

      int d = shape.dim;
      int kv = shape.kvDim();
      int f = shape.ffn;
      int n = shape.layers;
      float inv = 1f / (float) Math.sqrt(d);
      // a tied embedding doubles as the output matrix: scale it like one (unit-RMS rows would give
      // logits of spread sqrt(dim), a one-hot softmax that hides every margin)
      matrix(
          w, "token_embd", "token_embd", -1, d, vocab, shape.tiedOutput ? outputScale * inv : 1f);
      vector(w, "output_norm.weight", d, 1f, 0.1f);
      if (!shape.tiedOutput) {
        matrix(w, "output", "output", -1, d, vocab, outputScale * inv);
      }
      for (int l = 0; l < n; l++) {
        String p = "blk." + l + ".";
        vector(w, p + "attn_norm.weight", d, 1f, 0.1f);
        matrix(w, p + "attn_q", "attn_q", l, d, d, inv);
        matrix(w, p + "attn_k", "attn_k", l, d, kv, inv);
        matrix(w, p + "attn_v", "attn_v", l, d, kv, inv);
        if (a.equals("qwen2")) {
          vector(w, p + "attn_q.bias", d, 0f, 0.1f);
          vector(w, p + "attn_k.bias", kv, 0f, 0.1f);
          vector(w, p + "attn_v.bias", kv, 0f, 0.1f);
        }
        matrix(w, p + "attn_output", "attn_output", l, d, d, RESIDUAL_GAIN * inv);
        vector(w, p + "ffn_norm.weight", d, 1f, 0.1f);
        matrix(w, p + "ffn_gate", "ffn_gate", l, d, f, inv);
        matrix(w, p + "ffn_up", "ffn_up", l, d, f, inv);
        matrix(w, p + "ffn_down", "ffn_down", l, f, d, RESIDUAL_GAIN / (float) Math.sqrt(f));
      }
      w.write(path);
    }

    private void vector(GgufWriter w, String name, int n, float mean, float std) {
      SplittableRandom r = new SplittableRandom(mix(seed, name.hashCode()));
      float[] v = new float[n];
      for (int i = 0; i < n; i++) {
        v[i] = mean + std * (float) r.nextGaussian();
      }
      w.addF32(name, new long[] {n}, v);
    }

    /** A (rows x cols) matrix of N(0, std^2) values, generated and quantized in row chunks. */
    private void matrix(
        GgufWriter w, String base, String role, int layer, int cols, int rows, float std) {
      GgmlType type = mix.typeFor(role, layer, shape.layers, cols);
      long tensorSeed = mix(seed, (base + ".weight").hashCode());
      int rowBytes = Quantizer.rowBytes(type, cols);
      int chunk = Math.max(1, Math.min(rows, (1 << 22) / Math.max(rowBytes, cols * 4)));
      w.addTensor(
          base + ".weight",
          type,
          new long[] {cols, rows},
          (OutputStream out) -> {
            byte[] buf = new byte[chunk * rowBytes];
            for (int r0 = 0; r0 < rows; r0 += chunk) {
              int start = r0;
              int count = Math.min(chunk, rows - r0);
              // rows are independent streams: parallel generation gives the same bytes
              IntStream.range(0, count)
                  .parallel()
                  .forEach(
                      i -> {
                        float[] row = new float[cols];
                        SplittableRandom r = new SplittableRandom(mix(tensorSeed, start + i));
                        for (int c = 0; c < cols; c++) {
                          row[c] = std * (float) r.nextGaussian();
                        }
                        Quantizer.quantizeRow(type, row, 0, cols, buf, i * rowBytes);
                      });
              out.write(buf, 0, count * rowBytes);
            }
          });
    }
  }

  /** A SentencePiece-style token list llama.cpp accepts: control, byte and normal tokens. */
  private static void putSyntheticSpm(GgufWriter w, int n) {
    String[] tokens = new String[n];
    float[] scores = new float[n];
    int[] types = new int[n];
    tokens[0] = "<unk>";
    types[0] = 2; // UNKNOWN
    tokens[1] = "<s>";
    types[1] = 3; // CONTROL
    tokens[2] = "</s>";
    types[2] = 3;
    for (int b = 0; b < 256; b++) {
      tokens[3 + b] = String.format("<0x%02X>", b);
      types[3 + b] = 6; // BYTE
    }
    for (int i = 259; i < n; i++) {
      tokens[i] = "\u2581t" + Integer.toString(i - 259, 36);
      scores[i] = -(i - 259);
      types[i] = 1; // NORMAL
    }
    w.putString("tokenizer.ggml.model", "llama");
    w.putArray("tokenizer.ggml.tokens", GgufValueType.STRING, tokens);
    w.putArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, scores);
    w.putArray("tokenizer.ggml.token_type", GgufValueType.INT32, types);
    w.putUInt32("tokenizer.ggml.bos_token_id", 1);
    w.putUInt32("tokenizer.ggml.eos_token_id", 2);
    w.putUInt32("tokenizer.ggml.unknown_token_id", 0);
  }

  /** SplitMix64 finalizer over (a, b): independent, reproducible seeds per tensor and row. */
  static long mix(long a, long b) {
    long z = a * 0x9E3779B97F4A7C15L + b;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
