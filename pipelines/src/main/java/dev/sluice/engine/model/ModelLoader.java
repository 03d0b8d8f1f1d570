package dev.sluice.engine.model;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.gguf.GgufFormatException;
import dev.sluice.engine.gguf.GgufTensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Turns an open {@link GgufFile} into {@link ModelWeights}: reads the hyper-parameters from the
 * metadata of a {@code llama} or {@code qwen2} file and checks every tensor's presence, shape and
 * type against them.
 *
 * <p>Failure semantics: anything a backend could not run correctly fails here, with a {@link
 * GgufFormatException} naming the file and the offending metadata key or tensor: an unknown
 * architecture (refused by name), a missing or malformed hyper-parameter, a missing tensor, a
 * tensor whose shape disagrees with the hyper-parameters, or a rope scaling this engine does not
 * implement. The weights stay views of the mapped file, so the file must stay open while they are
 * used.
 */
public final class ModelLoader {
  private ModelLoader() {}

  /** Architectures this engine runs. */
  public static final List<String> SUPPORTED_ARCHITECTURES = List.of("llama", "qwen2");

  /** Reads the configuration and the tensors of {@code file}. */
  public static ModelWeights load(GgufFile file) {
    ModelConfig c = readConfig(file);
    GgufTensor embedding = matrix(file, "token_embd.weight", c.vocabSize(), c.dim());
    List<LayerWeights> layers = new ArrayList<>(c.layers());
    for (int i = 0; i < c.layers(); i++) {
      String p = "blk." + i + ".";
      layers.add(
          new LayerWeights(
              vector(file, p + "attn_norm.weight", c.dim()),
              matrix(file, p + "attn_q.weight", c.qDim(), c.dim()),
              matrix(file, p + "attn_k.weight", c.kvDim(), c.dim()),
              matrix(file, p + "attn_v.weight", c.kvDim(), c.dim()),
              matrix(file, p + "attn_output.weight", c.dim(), c.qDim()),
              c.qkvBias() ? vector(file, p + "attn_q.bias", c.qDim()) : null,
              c.qkvBias() ? vector(file, p + "attn_k.bias", c.kvDim()) : null,
              c.qkvBias() ? vector(file, p + "attn_v.bias", c.kvDim()) : null,
              vector(file, p + "ffn_norm.weight", c.dim()),
              matrix(file, p + "ffn_gate.weight", c.hiddenDim(), c.dim()),
              matrix(file, p + "ffn_up.weight", c.hiddenDim(), c.dim()),
              matrix(file, p + "ffn_down.weight", c.dim(), c.hiddenDim())));
    }
    GgufTensor outputNorm = vector(file, "output_norm.weight", c.dim());
    // Tied embeddings: files without output.weight reuse the token embedding as the output matrix.
    GgufTensor output =
        file.tensors().containsKey("output.weight")
            ? matrix(file, "output.weight", c.vocabSize(), c.dim())
            : embedding;
    // Llama 3.1-style frequency factors: they change every position's rotation, so they travel
    // with the weights and every backend applies (or refuses) them.
    GgufTensor ropeFreqs =
        file.tensors().containsKey("rope_freqs.weight")
            ? vector(file, "rope_freqs.weight", c.ropeDim() / 2)
            : null;
    return new ModelWeights(c, embedding, List.copyOf(layers), outputNorm, output, ropeFreqs);
  }

  /** Reads and validates the hyper-parameters only. */
  public static ModelConfig readConfig(GgufFile file) {
    Object archValue = file.get("general.architecture");
    if (archValue == null) {
      throw fail(file, "missing metadata key general.architecture");
    }
    if (!(archValue instanceof String arch)) {
      throw fail(file, "metadata key general.architecture is not a string: " + archValue);
    }
    if (!SUPPORTED_ARCHITECTURES.contains(arch)) {
      throw fail(
          file,
          "unsupported architecture '"
              + arch
              + "' (general.architecture); supported: "
              + String.join(", ", SUPPORTED_ARCHITECTURES));
    }
    int dim = positiveInt(file, arch + ".embedding_length", -1);
    int hiddenDim = positiveInt(file, arch + ".feed_forward_length", -1);
    int layers = positiveInt(file, arch + ".block_count", -1);
    int heads = positiveInt(file, arch + ".attention.head_count", -1);
    int kvHeads = positiveInt(file, arch + ".attention.head_count_kv", heads);
    if (heads % kvHeads != 0) {
      throw fail(
          file,
          arch
              + ".attention.head_count ("
              + heads
              + ") is not a multiple of "
              + arch
              + ".attention.head_count_kv ("
              + kvHeads
              + ")");
    }
    if (dim % heads != 0 && file.get(arch + ".attention.key_length") == null) {
      throw fail(
          file,
          arch
              + ".embedding_length ("
              + dim
              + ") is not a multiple of "
              + arch
              + ".attention.head_count ("
              + heads
              + ") and "
              + arch
              + ".attention.key_length is absent");
    }
    int headDim = positiveInt(file, arch + ".attention.key_length", dim / heads);
    int valueDim = positiveInt(file, arch + ".attention.value_length", headDim);
    if (valueDim != headDim) {
      throw fail(
          file,
          arch
              + ".attention.value_length ("
              + valueDim
              + ") differs from "
              + arch
              + ".attention.key_length ("
              + headDim
              + "): not supported");
    }
    int contextLength = positiveInt(file, arch + ".context_length", -1);
    float rmsEps = positiveFloat(file, arch + ".attention.layer_norm_rms_epsilon", -1);
    float ropeTheta = positiveFloat(file, arch + ".rope.freq_base", 10000f);
    int ropeDim = positiveInt(file, arch + ".rope.dimension_count", headDim);
    if (ropeDim > headDim || ropeDim % 2 != 0) {
      throw fail(
          file,
          arch
              + ".rope.dimension_count ("
              + ropeDim
              + ") must be even and at most the head width ("
              + headDim
              + ")");
    }
    float ropeScale = ropeScale(file, arch);
    if (file.tensors().containsKey("rope_freqs.weight")) {
      // Llama 3.1-style per-frequency factors change every position's rotation; running without
      // them would produce plausible but wrong text, so refuse loudly instead.
      throw fail(
          file, "tensor rope_freqs.weight (Llama 3.1 rope frequency factors) is not supported yet");
    }
    GgufTensor embd = file.tensor("token_embd.weight");
    if (embd.shape().length != 2) {
      throw fail(file, "tensor token_embd.weight must be 2-dimensional");
    }
    int vocab = embd.rows();
    Object vocabKey = file.get(arch + ".vocab_size");
    if (vocabKey != null && positiveInt(file, arch + ".vocab_size", -1) != vocab) {
      throw fail(
          file,
          arch
              + ".vocab_size ("
              + vocabKey
              + ") disagrees with the rows of token_embd.weight ("
              + vocab
              + ")");
    }
    boolean qwen = arch.equals("qwen2");
    return new ModelConfig(
        arch,
        dim,
        hiddenDim,
        layers,
        heads,
        kvHeads,
        headDim,
        vocab,
        contextLength,
        rmsEps,
        ropeTheta,
        ropeDim,
        qwen ? RopeType.NEOX : RopeType.NORM,
        ropeScale,
        qwen);
  }

  private static float ropeScale(GgufFile file, String arch) {
    String typeKey = arch + ".rope.scaling.type";
    String type = file.getString(typeKey, "none").toLowerCase(Locale.ROOT);
    float factor = positiveFloat(file, arch + ".rope.scaling.factor", 1f);
    // Older files carry only the linear factor, under rope.scale_linear.
    if (file.get(arch + ".rope.scale_linear") != null) {
      return positiveFloat(file, arch + ".rope.scale_linear", 1f);
    }
    return switch (type) {
      case "none" -> 1f;
      case "linear" -> factor;
      default ->
          throw fail(
              file,
              "rope scaling '" + type + "' (" + typeKey + ") is not supported (none, linear)");
    };
  }

  private static GgufTensor matrix(GgufFile file, String name, int rows, int cols) {
    GgufTensor t = file.tensor(name);
    if (t.shape().length != 2 || t.rows() != rows || t.cols() != cols) {
      throw fail(
          file,
          "tensor "
              + name
              + " has shape "
              + java.util.Arrays.toString(t.shape())
              + ", expected ["
              + cols
              + ", "
              + rows
              + "] (ggml order: input width, output width)");
    }
    return t;
  }

  private static GgufTensor vector(GgufFile file, String name, int n) {
    GgufTensor t = file.tensor(name);
    if (t.elements() != n || t.shape()[0] != n) {
      throw fail(
          file,
          "tensor "
              + name
              + " has shape "
              + java.util.Arrays.toString(t.shape())
              + ", expected ["
              + n
              + "]");
    }
    if (t.type() != GgmlType.F32) {
      throw fail(file, "tensor " + name + " is " + t.type() + ", expected F32");
    }
    return t;
  }

  private static int positiveInt(GgufFile file, String key, int dflt) {
    Object v = file.get(key);
    if (v == null) {
      if (dflt < 0) {
        throw fail(file, "missing metadata key " + key);
      }
      return dflt;
    }
    if (!(v instanceof Integer || v instanceof Long)) {
      throw fail(file, "metadata key " + key + " is not an integer: " + v);
    }
    long n = ((Number) v).longValue();
    if (n <= 0 || n > Integer.MAX_VALUE) {
      throw fail(file, "metadata key " + key + " is out of range: " + n);
    }
    return (int) n;
  }

  private static float positiveFloat(GgufFile file, String key, float dflt) {
    Object v = file.get(key);
    if (v == null) {
      if (dflt < 0) {
        throw fail(file, "missing metadata key " + key);
      }
      return dflt;
    }
    if (!(v instanceof Number n)) {
      throw fail(file, "metadata key " + key + " is not a number: " + v);
    }
    float f = n.floatValue();
    if (!(f > 0) || Float.isInfinite(f)) {
      throw fail(file, "metadata key " + key + " must be a positive number, got " + v);
    }
    return f;
  }

  private static GgufFormatException fail(GgufFile file, String message) {
    return new GgufFormatException(file.path() + ": " + message);
  }
}
