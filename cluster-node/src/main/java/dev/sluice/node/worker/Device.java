package dev.sluice.node.worker;

/**
 * A compute device that one {@link GpuWorker} owns: a CUDA GPU ({@code gpu-N}, N the driver's
 * device ordinal) or a CPU slot ({@code cpu-N}). Its {@link #id} is the last part of the worker's
 * entity id.
 */
public record Device(Kind kind, int index) {

  /** What kind of device. */
  public enum Kind {
    CPU,
    CUDA
  }

  public Device {
    if (index < 0) {
      throw new IllegalArgumentException("device index must be >= 0, got " + index);
    }
  }

  /** {@code cpu-0}, {@code gpu-1}, ... */
  public String id() {
    return (kind == Kind.CUDA ? "gpu-" : "cpu-") + index;
  }

  /** Parses {@link #id} ({@code cuda-N} is accepted as a synonym of {@code gpu-N}). */
  public static Device parse(String id) {
    int dash = id.lastIndexOf('-');
    if (dash <= 0) {
      throw new IllegalArgumentException("not a device id (cpu-N or gpu-N): " + id);
    }
    Kind kind =
        switch (id.substring(0, dash)) {
          case "cpu" -> Kind.CPU;
          case "gpu", "cuda" -> Kind.CUDA;
          default -> throw new IllegalArgumentException("unknown device kind in " + id);
        };
    return new Device(kind, Integer.parseInt(id.substring(dash + 1)));
  }
}
