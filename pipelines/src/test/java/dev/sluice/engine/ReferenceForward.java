package dev.sluice.engine;

import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.gguf.Quantizer;
import java.lang.foreign.ValueLayout;

/**
 * A deliberately plain llama/qwen2 forward pass for small models, written from the published model
 * definitions and independent of Sluice's engine: every weight is dequantized to floats once
 * (through {@link Quantizer#dequantizeRow}) and the math is textbook loops in double-free float.
 * The parity tests use it as a third opinion next to llama.cpp and Sluice's backends, so a
 * disagreement can be pinned on the writer, the engine or the harness.
 */
final class ReferenceForward {
  final String arch;
  final int dim;
  final int ffn;
  final int layers;
  final int heads;
  final int kvHeads;
  final int headDim;
  final int vocab;
  final float eps;
  final float theta;
  final boolean neox;
  final float[] embd; // (vocab, dim)
  final float[] outNorm; // (dim)
  final float[] out; // (vocab, dim)
  final float[][] attnNorm, wq, wk, wv, wo, bq, bk, bv, ffnNorm, wGate, wUp, wDown;
  final float[][] kCache, vCache; // (layers)(ctx, kvDim)
  final int ctx;

  ReferenceForward(GgufFile f, int ctx) {
    this.ctx = ctx;
    arch = f.getString("general.architecture", null);
    dim = (int) f.getLong(arch + ".embedding_length", 0);
    ffn = (int) f.getLong(arch + ".feed_forward_length", 0);
    layers = (int) f.getLong(arch + ".block_count", 0);
    heads = (int) f.getLong(arch + ".attention.head_count", 0);
    kvHeads = (int) f.getLong(arch + ".attention.head_count_kv", heads);
    headDim = dim / heads;
    eps = (float) f.getDouble(arch + ".attention.layer_norm_rms_epsilon", 1e-5);
    theta = (float) f.getDouble(arch + ".rope.freq_base", 10000);
    neox = arch.equals("qwen2");
    embd = floats(f.tensor("token_embd.weight"));
    vocab = embd.length / dim;
    outNorm = floats(f.tensor("output_norm.weight"));
    out = f.tensors().containsKey("output.weight") ? floats(f.tensor("output.weight")) : embd;
    attnNorm = new float[layers][];
    wq = new float[layers][];
    wk = new float[layers][];
    wv = new float[layers][];
    wo = new float[layers][];
    bq = new float[layers][];
    bk = new float[layers][];
    bv = new float[layers][];
    ffnNorm = new float[layers][];
    wGate = new float[layers][];
    wUp = new float[layers][];
    wDown = new float[layers][];
    kCache = new float[layers][ctx * kvHeads * headDim];
    vCache = new float[layers][ctx * kvHeads * headDim];
    for (int l = 0; l < layers; l++) {
      String p = "blk." + l + ".";
      attnNorm[l] = floats(f.tensor(p + "attn_norm.weight"));
      wq[l] = floats(f.tensor(p + "attn_q.weight"));
      wk[l] = floats(f.tensor(p + "attn_k.weight"));
      wv[l] = floats(f.tensor(p + "attn_v.weight"));
      wo[l] = floats(f.tensor(p + "attn_output.weight"));
      if (f.tensors().containsKey(p + "attn_q.bias")) {
        bq[l] = floats(f.tensor(p + "attn_q.bias"));
        bk[l] = floats(f.tensor(p + "attn_k.bias"));
        bv[l] = floats(f.tensor(p + "attn_v.bias"));
      }
      ffnNorm[l] = floats(f.tensor(p + "ffn_norm.weight"));
      wGate[l] = floats(f.tensor(p + "ffn_gate.weight"));
      wUp[l] = floats(f.tensor(p + "ffn_up.weight"));
      wDown[l] = floats(f.tensor(p + "ffn_down.weight"));
    }
  }

  static float[] floats(GgufTensor t) {
    int n = Math.toIntExact(t.elements());
    byte[] b = t.data().toArray(ValueLayout.JAVA_BYTE);
    float[] v = new float[n];
    if (t.type() == GgmlType.F32) {
      java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
    } else {
      Quantizer.dequantizeRow(t.type(), b, 0, n, v, 0);
    }
    return v;
  }

  /** Runs {@code token} at {@code pos} (all earlier positions already run) and returns logits. */
  float[] step(int token, int pos) {
    int kvDim = kvHeads * headDim;
    float[] x = new float[dim];
    System.arraycopy(embd, token * dim, x, 0, dim);
    float[] xb = new float[dim];
    float[] q = new float[dim];
    float[] k = new float[kvDim];
    float[] v = new float[kvDim];
    float[] att = new float[dim];
    float[] h1 = new float[ffn];
    float[] h2 = new float[ffn];
    float[] scores = new float[pos + 1];
    for (int l = 0; l < layers; l++) {
      rmsnorm(xb, x, attnNorm[l]);
      matvec(q, wq[l], xb, dim, dim);
      matvec(k, wk[l], xb, kvDim, dim);
      matvec(v, wv[l], xb, kvDim, dim);
      if (bq[l] != null) {
        add(q, bq[l]);
        add(k, bk[l]);
        add(v, bv[l]);
      }
      rope(q, heads, pos);
      rope(k, kvHeads, pos);
      System.arraycopy(k, 0, kCache[l], pos * kvDim, kvDim);
      System.arraycopy(v, 0, vCache[l], pos * kvDim, kvDim);
      java.util.Arrays.fill(att, 0);
      int group = heads / kvHeads;
      float scale = (float) (1.0 / Math.sqrt(headDim));
      for (int h = 0; h < heads; h++) {
        int kvh = h / group;
        float max = Float.NEGATIVE_INFINITY;
        for (int t = 0; t <= pos; t++) {
          float s = 0;
          for (int i = 0; i < headDim; i++) {
            s += q[h * headDim + i] * kCache[l][t * kvDim + kvh * headDim + i];
          }
          scores[t] = s * scale;
          max = Math.max(max, scores[t]);
        }
        float sum = 0;
        for (int t = 0; t <= pos; t++) {
          scores[t] = (float) Math.exp(scores[t] - max);
          sum += scores[t];
        }
        for (int t = 0; t <= pos; t++) {
          float w = scores[t] / sum;
          for (int i = 0; i < headDim; i++) {
            att[h * headDim + i] += w * vCache[l][t * kvDim + kvh * headDim + i];
          }
        }
      }
      matvec(xb, wo[l], att, dim, dim);
      add(x, xb);
      rmsnorm(xb, x, ffnNorm[l]);
      matvec(h1, wGate[l], xb, ffn, dim);
      matvec(h2, wUp[l], xb, ffn, dim);
      for (int i = 0; i < ffn; i++) {
        float g = h1[i];
        h1[i] = g / (1f + (float) Math.exp(-g)) * h2[i];
      }
      matvec(xb, wDown[l], h1, dim, ffn);
      add(x, xb);
    }
    rmsnorm(xb, x, outNorm);
    float[] logits = new float[vocab];
    matvec(logits, out, xb, vocab, dim);
    return logits;
  }

  private void rope(float[] vec, int nHeads, int pos) {
    for (int h = 0; h < nHeads; h++) {
      int base = h * headDim;
      for (int i = 0; i < headDim / 2; i++) {
        double freq = Math.pow(theta, -2.0 * i / headDim);
        double a = pos * freq;
        float c = (float) Math.cos(a);
        float s = (float) Math.sin(a);
        // NORM rotates adjacent pairs (2i, 2i+1); NEOX pairs i with i + headDim/2
        int i0 = neox ? base + i : base + 2 * i;
        int i1 = neox ? base + i + headDim / 2 : base + 2 * i + 1;
        float v0 = vec[i0];
        float v1 = vec[i1];
        vec[i0] = v0 * c - v1 * s;
        vec[i1] = v0 * s + v1 * c;
      }
    }
  }

  private void rmsnorm(float[] o, float[] x, float[] w) {
    float ss = 0;
    for (float xi : x) {
      ss += xi * xi;
    }
    float inv = (float) (1.0 / Math.sqrt(ss / x.length + eps));
    for (int i = 0; i < x.length; i++) {
      o[i] = x[i] * inv * w[i];
    }
  }

  private static void matvec(float[] o, float[] w, float[] x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
      float s = 0;
      int base = r * cols;
      for (int c = 0; c < cols; c++) {
        s += w[base + c] * x[c];
      }
      o[r] = s;
    }
  }

  private static void add(float[] a, float[] b) {
    for (int i = 0; i < a.length; i++) {
      a[i] += b[i];
    }
  }
}
