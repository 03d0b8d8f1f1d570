package dev.sluice.node.worker;

import java.util.Locale;

/**
 * A compute device that one {@link GpuWorker} owns: a GPU ({@code cuda-N}) or a CPU slot ({@code
 * cpu-N}). Its {@link #id} is the last part of the worker's entity id.
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

  /** {@code cpu-0}, {@code cuda-1}, ... */
  public String id() {
    return kind.name().toLowerCase(Locale.ROOT) + "-" + index;
  }

  /** Parses {@link #id}. */
  public static Device parse(String id) {
    int dash = id.lastIndexOf('-');
    if (dash <= 0) {
      throw new IllegalArgumentException("not a device id (cpu-N or cuda-N): " + id);
    }
    Kind kind =
        switch (id.substring(0, dash)) {
          case "cpu" -> Kind.CPU;
          case "cuda" -> Kind.CUDA;
          default -> throw new IllegalArgumentException("unknown device kind in " + id);
        };
    return new Device(kind, Integer.parseInt(id.substring(dash + 1)));
  }
}
