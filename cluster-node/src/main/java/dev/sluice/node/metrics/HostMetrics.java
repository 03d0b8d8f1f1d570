package dev.sluice.node.metrics;

import com.sun.management.OperatingSystemMXBean;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.lang.management.ManagementFactory;
import java.util.List;

/**
 * Host-level gauges read at scrape time: CPU usage of the whole node (the operators' "node CPU"
 * alert) and of this process, and GPU utilization and memory per device through {@link Nvml}.
 *
 * <p>A value the platform cannot give (the JVM reports a negative CPU load before its first sample)
 * is left out of the scrape rather than exported as a made-up number; likewise, without NVML there
 * are no GPU series at all.
 */
final class HostMetrics {

  /** Names of the GPU families; present only where NVML loads. */
  static final List<String> GPU_FAMILIES =
      List.of(
          "sluice_gpu_utilization_ratio",
          "sluice_gpu_memory_used_bytes",
          "sluice_gpu_memory_total_bytes",
          "sluice_gpu_info");

  private HostMetrics() {}

  static void registerCpu(PrometheusRegistry registry) {
    java.lang.management.OperatingSystemMXBean base = ManagementFactory.getOperatingSystemMXBean();
    if (!(base instanceof OperatingSystemMXBean os)) {
      return;
    }
    GaugeWithCallback.builder()
        .name("sluice_node_cpu_usage_ratio")
        .help("CPU usage of the whole node (or its container), 0 to 1, over the last sample.")
        .callback(
            cb -> {
              double v = os.getCpuLoad();
              if (v >= 0) {
                cb.call(v);
              }
            })
        .register(registry);
    GaugeWithCallback.builder()
        .name("sluice_process_cpu_usage_ratio")
        .help("CPU usage of this JVM process across all cores, 0 to 1, over the last sample.")
        .callback(
            cb -> {
              double v = os.getProcessCpuLoad();
              if (v >= 0) {
                cb.call(v);
              }
            })
        .register(registry);
    GaugeWithCallback.builder()
        .name("sluice_node_cpu_cores")
        .help("Processors available to this JVM.")
        .callback(cb -> cb.call(Runtime.getRuntime().availableProcessors()))
        .register(registry);
  }

  static void registerGpu(PrometheusRegistry registry, Nvml nvml) {
    GaugeWithCallback.builder()
        .name("sluice_gpu_info")
        .help("GPU identity per device index (value is always 1).")
        .labelNames("device", "name", "uuid")
        .callback(
            cb -> {
              for (Nvml.DeviceInfo d : nvml.devices()) {
                cb.call(1, Integer.toString(d.index()), d.name(), d.uuid());
              }
            })
        .register(registry);
    // Three families read from one NVML sample per scrape would need a MultiCollector; NVML
    // queries are microseconds, so each family samples on its own and stays a plain gauge.
    GaugeWithCallback.builder()
        .name("sluice_gpu_utilization_ratio")
        .help("Fraction of the last sample period in which a kernel ran on the GPU, 0 to 1.")
        .labelNames("device")
        .callback(
            cb -> {
              for (Nvml.DeviceSample s : nvml.sample()) {
                cb.call(s.gpuUtilizationRatio(), Integer.toString(s.index()));
              }
            })
        .register(registry);
    GaugeWithCallback.builder()
        .name("sluice_gpu_memory_used_bytes")
        .help("GPU memory in use (all processes), in bytes.")
        .labelNames("device")
        .callback(
            cb -> {
              for (Nvml.DeviceSample s : nvml.sample()) {
                cb.call(s.memoryUsed(), Integer.toString(s.index()));
              }
            })
        .register(registry);
    GaugeWithCallback.builder()
        .name("sluice_gpu_memory_total_bytes")
        .help("GPU memory installed, in bytes.")
        .labelNames("device")
        .callback(
            cb -> {
              for (Nvml.DeviceSample s : nvml.sample()) {
                cb.call(s.memoryTotal(), Integer.toString(s.index()));
              }
            })
        .register(registry);
  }
}
