package dev.sluice.engine.cuda;

import dev.sluice.engine.Backend;
import dev.sluice.engine.Backends;
import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.StepBatch;
import dev.sluice.engine.gguf.GgmlType;
import dev.sluice.engine.model.LayerWeights;
import dev.sluice.engine.model.ModelConfig;
import dev.sluice.engine.model.ModelWeights;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Drives the whole CUDA host path (discovery, selection, context, module loading, uploads, paged
 * batches with and without CUDA graphs, fused and unfused projections, errors, close) against the
 * fake driver of {@code src/test/cuda/fake_libcuda.c}, in a JVM of its own (see
 * CudaFakeDriverTest). Kernels do not run there: this checks the LWJGL calls, not the numbers.
 */
public final class FakeDriverSmoke {
  private FakeDriverSmoke() {}

  public static void main(String[] args) {
    List<CudaDevice> devices = CudaDevices.discover();
    check(
        devices.size() == 1,
        "one fake device, got " + devices + " " + CudaDevices.unavailableReason());
    check(devices.get(0).ccMajor() == 9, "compute capability 9.x: " + devices.get(0));
    try (Backend b = Backends.select("auto", 0, 1)) {
      check(b.name().equals("cuda:0"), "auto selects cuda:0, got " + b.name());
    }
    try (CudaBackend backend = new CudaBackend(0)) {
      check(backend.ptxVariant().equals("sm90.cubin"), "cubin on 9.0: " + backend.ptxVariant());
      try (CudaKernels ptx = backend.loadKernels(true)) {
        check(ptx.ptxVariant.equals("sm90.ptx"), "forced PTX: " + ptx.ptxVariant);
      }
      ModelConfig c = CudaModelGpuTest.smallQwen(256, 512);
      try (Arena arena = Arena.ofConfined()) {
        ModelWeights w =
            TestModels.withRopeFreqs(
                TestModels.synthetic(c, GgmlType.Q8_0, arena, 1, false), arena, 2);
        // a mixed-type layer (Q4_K_M style): v and up in another type take the unfused path
        List<LayerWeights> ls = new ArrayList<>(w.layers());
        LayerWeights l0 = ls.get(0);
        SplittableRandom r = new SplittableRandom(3);
        ls.set(
            0,
            new LayerWeights(
                l0.attnNorm(),
                l0.wq(),
                l0.wk(),
                TestModels.tensor("v6", GgmlType.Q6_K, c.kvDim(), c.dim(), arena, r, false),
                l0.wo(),
                l0.bq(),
                l0.bk(),
                l0.bv(),
                l0.ffnNorm(),
                l0.wGate(),
                TestModels.tensor("up6", GgmlType.Q6_K, c.hiddenDim(), c.dim(), arena, r, false),
                l0.wDown()));
        w = new ModelWeights(c, w.tokenEmbedding(), ls, w.outputNorm(), w.output(), w.ropeFreqs());
        ModelRunner runner = backend.load(w, new KvCacheSpec(64, 8));
        int[] toks = new int[100];
        for (int i = 0; i < toks.length; i++) {
          toks[i] = i % c.vocabSize();
        }
        float[][][] out = CudaModelGpuTest.runSchedule(runner, toks, new int[] {1, 30, 100});
        check(out[2][99].length == c.vocabSize(), "logit rows");
        ((CudaModelRunner) runner).useGraphs(false);
        StepBatch sb = new StepBatch(2, 8, 4);
        float[] logits = new float[8 * c.vocabSize()];
        sb.add(toks, 0, 3, 0, new int[] {5, 6}, 2);
        sb.add(toks, 0, 1, 9, new int[] {7, 8}, 2);
        runner.forward(sb, logits);
        // per-phase profile (CudaBench's breakdown): the fake's events report 1 ms each
        CudaModelRunner cr = (CudaModelRunner) runner;
        double[] ms = new double[CudaModelRunner.PHASES.length];
        cr.profile(ms);
        cr.forward(sb, logits);
        cr.profile(null);
        check(cr.launchesPerStep() > 8 * c.layers(), "launches " + cr.launchesPerStep());
        check(ms[2] == c.layers() && ms[3] == c.layers() && ms[8] == 1, "phases " + ms[2]);
        sb.clear();
        sb.add(new int[] {1, 2, 9999}, 0, 3, 0, new int[] {0}, 1);
        try {
          runner.forward(sb, logits);
          check(false, "bad token accepted");
        } catch (IllegalArgumentException expected) {
          check(expected.getMessage().contains("9999"), expected.getMessage());
        }
        // the repacked layout: Q8_0 matrices repacked at upload (staged, then copied), the Q6_K
        // ones as in the file, so the mixed layer's q/k/v and gate/up take the unfused path
        ModelRunner rp = backend.load(w, new KvCacheSpec(64, 8), CudaWeightLayout.REPACKED);
        CudaModelRunner crp = (CudaModelRunner) rp;
        check(crp.weightLayout() == CudaWeightLayout.REPACKED, "layout " + crp.weightLayout());
        // per layer 7 matrices, 2 of layer 0 in Q6_K; embedding = output (tied) counts once
        int expectRepacked = 7 * c.layers() - 2 + (w.output() == w.tokenEmbedding() ? 1 : 2);
        check(
            crp.repackedMatrices() == expectRepacked,
            "repacked matrices " + crp.repackedMatrices() + ", expected " + expectRepacked);
        float[][][] outR = CudaModelGpuTest.runSchedule(rp, toks, new int[] {1, 30, 100});
        check(outR[2][99].length == c.vocabSize(), "repacked logit rows");
        crp.useGraphs(false);
        StepBatch two = new StepBatch(2, 8, 4);
        two.add(toks, 0, 3, 0, new int[] {5, 6}, 2);
        two.add(toks, 0, 1, 9, new int[] {7, 8}, 2);
        rp.forward(two, logits);
        // RoPE fused into decode attention: one-token steps take it, the mixed step above not
        crp.useGraphs(true);
        crp.useFusedRope(true);
        check(crp.fusedRope(), "attention_rope_split resolved");
        float[][][] outF = CudaModelGpuTest.runSchedule(rp, toks, new int[] {1, 1, 5});
        check(outF[0][99].length == c.vocabSize(), "fused-rope logit rows");
        rp.close();
        double bw = backend.copyBandwidth(1 << 20, 2);
        check(bw > 0, "bandwidth " + bw);
        // runner left open on purpose: backend.close() must free it
      }
    }
    System.out.println("SMOKE OK");
  }

  private static void check(boolean ok, String what) {
    if (!ok) {
      throw new AssertionError(what);
    }
  }
}
