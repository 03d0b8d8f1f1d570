package dev.sluice.engine.cpu;

import dev.sluice.engine.Backend;
import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.model.LayerWeights;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.model.RopeType;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The reference backend: a plain, single-threaded transformer forward pass written to be read and
 * trusted, against which the fast CPU and GPU backends are tested. It follows llama.cpp's
 * arithmetic (float32 activations, RMSNorm sums in double, rotary angles per pair) and reads the
 * weights in place from the mapped file through {@code MatMul.reference}.
 *
 * <p>The KV cache is one heap array per layer for keys and one for values, laid out as {@code
 * (numBlocks, blockSize, kvDim)}. Failure semantics: {@link #load} rejects a cache too large for
 * its arrays; {@link ModelRunner#forward} rejects a malformed batch (token id, block id or position
 * out of range) with an {@link IllegalArgumentException} naming the sequence, before computing.
 */
public final class ScalarBackend implements Backend {
  private static final ValueLayout.OfFloat F32 =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  @Override
  public String name() {
    return "cpu-scalar";
  }

  @Override
  public ModelRunner load(ModelWeights weights, KvCacheSpec kvCache) {
    return new Runner(weights, kvCache);
  }

  @Override
  public void close() {}

  private static final class Runner implements ModelRunner {
    private final ModelWeights w;
    private final ModelConfig c;
    private final KvCacheSpec kv;
    private final float[][] keyCache; // (layers) x (numBlocks, blockSize, kvDim)
    private final float[][] valueCache; // (layers) x (numBlocks, blockSize, kvDim)

    Runner(ModelWeights w, KvCacheSpec kv) {
      this.w = w;
      this.c = w.config();
      this.kv = kv;
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
      keyCache = new float[c.layers()][(int) perLayer];
      valueCache = new float[c.layers()][(int) perLayer];
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
      int dim = c.dim();
      int qDim = c.qDim();
      int kvDim = c.kvDim();
      int hidden = c.hiddenDim();
      int[] seqOf = new int[T];
      int[] posOf = new int[T];
      for (int s = 0; s < b.numSeqs; s++) {
        for (int t = b.seqStart[s]; t < b.seqStart[s + 1]; t++) {
          seqOf[t] = s;
          posOf[t] = b.seqPos[s] + (t - b.seqStart[s]);
        }
      }

      float[] x = new float[T * dim]; // (T, dim) residual stream
      float[] xb = new float[T * dim]; // (T, dim) normalized input of a sub-layer
      float[] q = new float[T * qDim];
      float[] k = new float[T * kvDim];
      float[] v = new float[T * kvDim];
      float[] att = new float[T * qDim]; // (T, qDim) attention output before wo
      float[] proj = new float[T * dim];
      float[] gate = new float[T * hidden];
      float[] up = new float[T * hidden];
      for (int t = 0; t < T; t++) {
        MatMul.dequantizeRow(w.tokenEmbedding(), b.tokens[t], x, t * dim);
      }

      for (int l = 0; l < c.layers(); l++) {
        LayerWeights lw = w.layers().get(l);
        rmsnorm(x, lw.attnNorm(), xb, T);
        MatMul.reference(lw.wq(), xb, T, q, 0, qDim);
        MatMul.reference(lw.wk(), xb, T, k, 0, kvDim);
        MatMul.reference(lw.wv(), xb, T, v, 0, kvDim);
        if (c.qkvBias()) {
          addBias(q, lw.bq(), T);
          addBias(k, lw.bk(), T);
          addBias(v, lw.bv(), T);
        }
        for (int t = 0; t < T; t++) {
          for (int h = 0; h < c.heads(); h++) {
            rope(q, t * qDim + h * c.headDim(), posOf[t]);
          }
          for (int h = 0; h < c.kvHeads(); h++) {
            rope(k, t * kvDim + h * c.headDim(), posOf[t]);
          }
          // Store this token's key and value in its sequence's block before any token attends.
          int off = cacheOffset(b, seqOf[t], posOf[t]);
          System.arraycopy(k, t * kvDim, keyCache[l], off, kvDim);
          System.arraycopy(v, t * kvDim, valueCache[l], off, kvDim);
        }
        for (int t = 0; t < T; t++) {
          attention(b, l, seqOf[t], posOf[t], q, t * qDim, att, t * qDim);
        }
        MatMul.reference(lw.wo(), att, T, proj, 0, dim);
        for (int i = 0; i < T * dim; i++) {
          x[i] += proj[i];
        }

        rmsnorm(x, lw.ffnNorm(), xb, T);
        MatMul.reference(lw.wGate(), xb, T, gate, 0, hidden);
        MatMul.reference(lw.wUp(), xb, T, up, 0, hidden);
        for (int i = 0; i < T * hidden; i++) {
          float g = gate[i];
          gate[i] = g / (1f + (float) Math.exp(-g)) * up[i]; // SwiGLU
        }
        MatMul.reference(lw.wDown(), gate, T, proj, 0, dim);
        for (int i = 0; i < T * dim; i++) {
          x[i] += proj[i];
        }
      }

      // Final norm and output projection, only for the rows whose logits are wanted.
      int rows = b.logitRows();
      float[] last = new float[rows * dim];
      for (int r = 0; r < rows; r++) {
        int t = b.allLogits ? r : b.seqStart[r + 1] - 1;
        System.arraycopy(x, t * dim, last, r * dim, dim);
      }
      float[] normed = new float[rows * dim];
      rmsnorm(last, w.outputNorm(), normed, rows);
      MatMul.reference(w.output(), normed, rows, logits, 0, c.vocabSize());
    }

    /**
     * Causal attention of one token (all its query heads) over positions 0..pos of its sequence.
     */
    private void attention(
        StepBatch b, int l, int s, int pos, float[] q, int qOff, float[] out, int outOff) {
      int hd = c.headDim();
      int group = c.heads() / c.kvHeads();
      float scale = (float) (1.0 / Math.sqrt(hd));
      float[] scores = new float[pos + 1];
      for (int h = 0; h < c.heads(); h++) {
        int kvOff = (h / group) * hd; // grouped-query attention: heads share a KV head
        float max = Float.NEGATIVE_INFINITY;
        for (int p = 0; p <= pos; p++) {
          int off = cacheOffset(b, s, p) + kvOff;
          float dot = 0;
          for (int i = 0; i < hd; i++) {
            dot += q[qOff + h * hd + i] * keyCache[l][off + i];
          }
          scores[p] = dot * scale;
          max = Math.max(max, scores[p]);
        }
        float sum = 0;
        for (int p = 0; p <= pos; p++) {
          scores[p] = (float) Math.exp(scores[p] - max);
          sum += scores[p];
        }
        for (int i = 0; i < hd; i++) {
          out[outOff + h * hd + i] = 0;
        }
        for (int p = 0; p <= pos; p++) {
          int off = cacheOffset(b, s, p) + kvOff;
          float a = scores[p] / sum;
          for (int i = 0; i < hd; i++) {
            out[outOff + h * hd + i] += a * valueCache[l][off + i];
          }
        }
      }
    }

    private int cacheOffset(StepBatch b, int s, int pos) {
      int block = b.blockTable[s * b.maxBlocksPerSeq + pos / kv.blockSize()];
      return (block * kv.blockSize() + pos % kv.blockSize()) * c.kvDim();
    }

    /** Rotates one head in place at position {@code pos}. */
    private void rope(float[] v, int off, int pos) {
      int n = c.ropeDim();
      float p = pos / c.ropeScale();
      for (int i = 0; i < n / 2; i++) {
        double theta = p * Math.pow(c.ropeTheta(), -2.0 * i / n);
        if (w.ropeFreqs() != null) {
          theta /= w.ropeFreqs().data().getAtIndex(F32, i); // Llama 3.1 frequency factors
        }
        float cos = (float) Math.cos(theta);
        float sin = (float) Math.sin(theta);
        // NORM pairs adjacent dimensions; NEOX pairs the two halves of the rotated part.
        int a = c.ropeType() == RopeType.NORM ? off + 2 * i : off + i;
        int bb = c.ropeType() == RopeType.NORM ? a + 1 : off + i + n / 2;
        float x0 = v[a];
        float x1 = v[bb];
        v[a] = x0 * cos - x1 * sin;
        v[bb] = x0 * sin + x1 * cos;
      }
    }

    private void rmsnorm(float[] in, GgufTensor weight, float[] out, int T) {
      int dim = c.dim();
      for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int i = 0; i < dim; i++) {
          ss += (double) in[t * dim + i] * in[t * dim + i];
        }
        float scale = (float) (1.0 / Math.sqrt(ss / dim + c.rmsEps()));
        for (int i = 0; i < dim; i++) {
          out[t * dim + i] = in[t * dim + i] * scale * weight.data().getAtIndex(F32, i);
        }
      }
    }

    private static void addBias(float[] v, GgufTensor bias, int T) {
      int n = (int) bias.elements();
      for (int t = 0; t < T; t++) {
        for (int i = 0; i < n; i++) {
          v[t * n + i] += bias.data().getAtIndex(F32, i);
        }
      }
    }

    @Override
    public void close() {}
  }
}
