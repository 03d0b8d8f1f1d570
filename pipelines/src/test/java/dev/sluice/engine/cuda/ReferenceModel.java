package dev.sluice.engine.cuda;

import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.model.LayerWeights;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.model.RopeType;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A plain scalar transformer forward (double accumulators, one token at a time, one contiguous KV
 * history per sequence): the CPU reference of the CUDA tests until the engine's ScalarBackend is
 * merged. Checked here against the stories260K reference logits, so it is trustworthy on its own.
 */
final class ReferenceModel {
  private final ModelConfig c;
  private final float[] emb; // (vocab, dim)
  private final float[] out; // (vocab, dim)
  private final float[] outNorm;
  private final float[] ropeFreqs; // or null
  private final float[][] attnNorm, wq, wk, wv, wo, bq, bk, bv, ffnNorm, gate, up, down;

  /** One sequence's cache: per layer, per position, keys and values (kvDim). */
  final class Seq {
    final List<List<float[]>> keys = new ArrayList<>();
    final List<List<float[]>> values = new ArrayList<>();

    Seq() {
      for (int l = 0; l < c.layers(); l++) {
        keys.add(new ArrayList<>());
        values.add(new ArrayList<>());
      }
    }

    int length() {
      return keys.get(0).size();
    }
  }

  ReferenceModel(ModelWeights w) {
    this.c = w.config();
    emb = mat(w.tokenEmbedding(), c.vocabSize(), c.dim());
    out = mat(w.output(), c.vocabSize(), c.dim());
    outNorm = vec(w.outputNorm());
    ropeFreqs = w.ropeFreqs() == null ? null : vec(w.ropeFreqs());
    int n = c.layers();
    attnNorm = new float[n][];
    wq = new float[n][];
    wk = new float[n][];
    wv = new float[n][];
    wo = new float[n][];
    bq = new float[n][];
    bk = new float[n][];
    bv = new float[n][];
    ffnNorm = new float[n][];
    gate = new float[n][];
    up = new float[n][];
    down = new float[n][];
    for (int i = 0; i < n; i++) {
      LayerWeights l = w.layers().get(i);
      attnNorm[i] = vec(l.attnNorm());
      wq[i] = mat(l.wq(), c.qDim(), c.dim());
      wk[i] = mat(l.wk(), c.kvDim(), c.dim());
      wv[i] = mat(l.wv(), c.kvDim(), c.dim());
      wo[i] = mat(l.wo(), c.dim(), c.qDim());
      bq[i] = l.bq() == null ? null : vec(l.bq());
      bk[i] = l.bk() == null ? null : vec(l.bk());
      bv[i] = l.bv() == null ? null : vec(l.bv());
      ffnNorm[i] = vec(l.ffnNorm());
      gate[i] = mat(l.wGate(), c.hiddenDim(), c.dim());
      up[i] = mat(l.wUp(), c.hiddenDim(), c.dim());
      down[i] = mat(l.wDown(), c.dim(), c.hiddenDim());
    }
  }

  private static float[] mat(GgufTensor t, int rows, int cols) {
    return Dequant.matrix(t.type(), t.data(), rows, cols);
  }

  private static float[] vec(GgufTensor t) {
    return t.data().toArray(ValueLayout.JAVA_FLOAT);
  }

  Seq newSeq() {
    return new Seq();
  }

  /** Feeds {@code token} at the sequence's next position; returns the logits (vocab). */
  float[] step(Seq s, int token) {
    int dim = c.dim();
    int pos = s.length();
    float[] x = new float[dim];
    System.arraycopy(emb, token * dim, x, 0, dim);
    for (int l = 0; l < c.layers(); l++) {
      float[] xb = rmsnorm(x, attnNorm[l], c.rmsEps());
      float[] q = matvec(wq[l], xb, c.qDim(), dim, bq[l]);
      float[] k = matvec(wk[l], xb, c.kvDim(), dim, bk[l]);
      float[] v = matvec(wv[l], xb, c.kvDim(), dim, bv[l]);
      float p = pos / c.ropeScale();
      rope(q, c.heads(), c.headDim(), c.ropeDim(), p, c.ropeTheta(), c.ropeType(), ropeFreqs);
      rope(k, c.kvHeads(), c.headDim(), c.ropeDim(), p, c.ropeTheta(), c.ropeType(), ropeFreqs);
      s.keys.get(l).add(k);
      s.values.get(l).add(v);
      float[] att =
          attention(q, s.keys.get(l), s.values.get(l), c.heads(), c.kvHeads(), c.headDim());
      float[] o = matvec(wo[l], att, dim, c.qDim(), null);
      for (int i = 0; i < dim; i++) {
        x[i] += o[i];
      }
      xb = rmsnorm(x, ffnNorm[l], c.rmsEps());
      float[] g = matvec(gate[l], xb, c.hiddenDim(), dim, null);
      float[] u = matvec(up[l], xb, c.hiddenDim(), dim, null);
      for (int i = 0; i < g.length; i++) {
        g[i] = (float) (g[i] / (1 + Math.exp(-g[i])) * u[i]);
      }
      float[] d = matvec(down[l], g, dim, c.hiddenDim(), null);
      for (int i = 0; i < dim; i++) {
        x[i] += d[i];
      }
    }
    float[] xn = rmsnorm(x, outNorm, c.rmsEps());
    return matvec(out, xn, c.vocabSize(), dim, null);
  }

  static float[] rmsnorm(float[] x, float[] w, float eps) {
    double ss = 0;
    for (float v : x) {
      ss += (double) v * v;
    }
    double inv = 1.0 / Math.sqrt(ss / x.length + eps);
    float[] o = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      o[i] = (float) (x[i] * inv * w[i]);
    }
    return o;
  }

  /** y = W x (+ b), W row-major (rows, cols). */
  static float[] matvec(float[] w, float[] x, int rows, int cols, float[] b) {
    float[] y = new float[rows];
    for (int r = 0; r < rows; r++) {
      double s = 0;
      int base = r * cols;
      for (int i = 0; i < cols; i++) {
        s += (double) w[base + i] * x[i];
      }
      y[r] = (float) (s + (b == null ? 0 : b[r]));
    }
    return y;
  }

  static void rope(
      float[] v,
      int heads,
      int headDim,
      int ropeDim,
      float pos,
      float theta,
      RopeType type,
      float[] factors) {
    for (int h = 0; h < heads; h++) {
      int base = h * headDim;
      for (int i = 0; i < ropeDim / 2; i++) {
        double freq = Math.pow(theta, -2.0 * i / ropeDim) / (factors == null ? 1 : factors[i]);
        double a = pos * freq;
        double cos = Math.cos(a);
        double sin = Math.sin(a);
        int i0 = type == RopeType.NEOX ? base + i : base + 2 * i;
        int i1 = type == RopeType.NEOX ? base + i + ropeDim / 2 : base + 2 * i + 1;
        double x0 = v[i0];
        double x1 = v[i1];
        v[i0] = (float) (x0 * cos - x1 * sin);
        v[i1] = (float) (x0 * sin + x1 * cos);
      }
    }
  }

  /** Causal attention of one query over all cached positions (keys/values per position). */
  static float[] attention(
      float[] q, List<float[]> keys, List<float[]> values, int heads, int kvHeads, int headDim) {
    float[] out = new float[heads * headDim];
    int group = heads / kvHeads;
    double scale = 1.0 / Math.sqrt(headDim);
    int n = keys.size();
    for (int h = 0; h < heads; h++) {
      int kvh = h / group;
      double[] sc = new double[n];
      double max = Double.NEGATIVE_INFINITY;
      for (int p = 0; p < n; p++) {
        double s = 0;
        for (int d = 0; d < headDim; d++) {
          s += (double) q[h * headDim + d] * keys.get(p)[kvh * headDim + d];
        }
        sc[p] = s * scale;
        max = Math.max(max, sc[p]);
      }
      double sum = 0;
      for (int p = 0; p < n; p++) {
        sc[p] = Math.exp(sc[p] - max);
        sum += sc[p];
      }
      for (int d = 0; d < headDim; d++) {
        double acc = 0;
        for (int p = 0; p < n; p++) {
          acc += sc[p] * values.get(p)[kvh * headDim + d];
        }
        out[h * headDim + d] = (float) (acc / sum);
      }
    }
    return out;
  }
}
