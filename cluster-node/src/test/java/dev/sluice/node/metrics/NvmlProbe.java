package dev.sluice.node.metrics;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Optional;

/**
 * Prints what NVML reports and the GPU series a node would export: run on a GPU machine to compare
 * with {@code nvidia-smi} (the {@code @Tag("gpu")} test asserts the same in JUnit).
 */
public final class NvmlProbe {
  private NvmlProbe() {}

  public static void main(String[] args) throws Exception {
    StringBuilder why = new StringBuilder();
    Optional<Nvml> loaded = Nvml.load(why);
    if (loaded.isEmpty()) {
      System.out.println("NVML absent: " + why);
      System.exit(3);
    }
    try (Nvml nvml = loaded.get()) {
      System.out.println("devices: " + nvml.devices());
      System.out.println("samples: " + nvml.sample());
      PrometheusRegistry registry = new PrometheusRegistry();
      HostMetrics.registerGpu(registry, nvml);
      PrometheusTextFormatWriter.create().write(System.out, registry.scrape());
      System.out.println(
          "signals: "
              + new SignalSampler(java.time.Duration.ofMinutes(1), 20)
                  .sample(registry.scrape(), System.nanoTime()));
    }
  }
}
