package dev.sluice.engine;

import dev.sluice.engine.cpu.CpuBackend;
import dev.sluice.engine.cuda.CudaBackend;
import dev.sluice.engine.cuda.CudaDevice;
import dev.sluice.engine.cuda.CudaDevices;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the compute device at start-up: {@code cuda} when a CUDA driver and the requested device
 * exist, else the CPU. The choice (and, on fallback, why CUDA was not used) is logged once per
 * call.
 */
public final class Backends {
  private static final Logger log = LoggerFactory.getLogger(Backends.class);

  private Backends() {}

  /**
   * Opens a backend.
   *
   * @param device {@code auto} (CUDA when usable, else CPU), {@code cpu}, or {@code cuda} (fails
   *     when CUDA is unusable, rather than silently running on the CPU)
   * @param deviceIndex CUDA device ordinal (ignored for the CPU)
   * @param threads CPU worker threads (ignored for CUDA)
   * @throws IllegalArgumentException for an unknown {@code device}
   * @throws IllegalStateException when {@code cuda} is demanded but unusable
   */
  public static Backend select(String device, int deviceIndex, int threads) {
    String d = device == null ? "auto" : device.strip().toLowerCase(Locale.ROOT);
    switch (d) {
      case "cpu" -> {
        log.info("compute backend: cpu ({} threads), as configured", threads);
        return cpu(threads);
      }
      case "cuda" -> {
        Backend b = new CudaBackend(deviceIndex);
        log.info("compute backend: {}, as configured", ((CudaBackend) b).device());
        return b;
      }
      case "auto" -> {
        List<CudaDevice> devices = CudaDevices.discover();
        if (devices.isEmpty()) {
          log.info(
              "compute backend: cpu ({} threads); CUDA not used: {}",
              threads,
              CudaDevices.unavailableReason());
          return cpu(threads);
        }
        if (deviceIndex < 0 || deviceIndex >= devices.size()) {
          log.warn(
              "compute backend: cpu ({} threads); CUDA device index {} out of range ({} device(s))",
              threads,
              deviceIndex,
              devices.size());
          return cpu(threads);
        }
        try {
          CudaBackend b = new CudaBackend(deviceIndex);
          log.info("compute backend: {} (auto)", b.device());
          return b;
        } catch (RuntimeException e) {
          log.warn("compute backend: cpu ({} threads); opening CUDA failed: {}", threads, e);
          return cpu(threads);
        }
      }
      default ->
          throw new IllegalArgumentException(
              "device must be auto, cpu or cuda, got '" + device + "'");
    }
  }

  private static Backend cpu(int threads) {
    return new CpuBackend(threads);
  }
}
