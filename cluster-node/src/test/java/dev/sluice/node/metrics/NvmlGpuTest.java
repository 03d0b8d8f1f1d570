package dev.sluice.node.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** NVML through FFM on a machine with an NVIDIA driver (excluded by default). */
@Tag("gpu")
class NvmlGpuTest {

  @Test
  void readsEveryDeviceWithPlausibleMemoryAndUtilization() {
    StringBuilder why = new StringBuilder();
    Optional<Nvml> loaded = Nvml.load(why);
    assertThat(loaded).as("NVML on a GPU machine: %s", why).isPresent();
    try (Nvml nvml = loaded.get()) {
      assertThat(nvml.devices()).isNotEmpty();
      assertThat(nvml.devices().get(0).uuid()).startsWith("GPU-");
      List<Nvml.DeviceSample> samples = nvml.sample();
      assertThat(samples).hasSameSizeAs(nvml.devices());
      for (Nvml.DeviceSample s : samples) {
        assertThat(s.memoryTotal()).isGreaterThan(1L << 30);
        assertThat(s.memoryUsed()).isBetween(0L, s.memoryTotal());
        assertThat(s.gpuUtilizationRatio()).isBetween(0.0, 1.0);
      }
    }
  }
}
