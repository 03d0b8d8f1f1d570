package dev.sluice.node.metrics;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A minimal binding of NVIDIA's management library ({@code libnvidia-ml.so.1}, shipped with the
 * driver) through the FFM API: device count, name, UUID, utilization and memory.
 *
 * <p>{@link #load()} returns empty when the library or a GPU is absent (no driver, CPU-only host),
 * so the GPU series are then absent from {@code /metrics}, never reported as zero. Every NVML
 * return code passes through {@link #check}. NVML is thread-safe; device handles stay valid until
 * {@link #close()}.
 */
public final class Nvml implements AutoCloseable {

  /** Utilization (percent of the last sample period) and memory (bytes) of one device. */
  public record DeviceSample(
      int index, double gpuUtilizationRatio, long memoryUsed, long memoryTotal) {}

  /** A device's identity, read once at start. */
  public record DeviceInfo(int index, String name, String uuid) {}

  private static final int NVML_SUCCESS = 0;
  // NVML_DEVICE_NAME_V2_BUFFER_SIZE and NVML_DEVICE_UUID_V2_BUFFER_SIZE from nvml.h.
  private static final int NAME_BUFFER = 96;
  private static final int UUID_BUFFER = 96;

  private final Arena arena;
  private final MethodHandle errorString;
  private final MethodHandle shutdown;
  private final MethodHandle utilizationRates;
  private final MethodHandle memoryInfo;
  private final List<MemorySegment> handles;
  private final List<DeviceInfo> devices;
  private volatile boolean closed;

  private Nvml(Arena arena, SymbolLookup lib) throws Throwable {
    this.arena = arena;
    Linker linker = Linker.nativeLinker();
    errorString =
        linker.downcallHandle(
            find(lib, "nvmlErrorString"),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    MethodHandle init =
        linker.downcallHandle(
            find(lib, "nvmlInit_v2"), FunctionDescriptor.of(ValueLayout.JAVA_INT));
    shutdown =
        linker.downcallHandle(
            find(lib, "nvmlShutdown"), FunctionDescriptor.of(ValueLayout.JAVA_INT));
    MethodHandle count =
        linker.downcallHandle(
            find(lib, "nvmlDeviceGetCount_v2"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    MethodHandle handleByIndex =
        linker.downcallHandle(
            find(lib, "nvmlDeviceGetHandleByIndex_v2"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
    MethodHandle name =
        linker.downcallHandle(
            find(lib, "nvmlDeviceGetName"),
            FunctionDescriptor.of(
                ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS,
                ValueLayout.ADDRESS,
                ValueLayout.JAVA_INT));
    MethodHandle uuid =
        linker.downcallHandle(
            find(lib, "nvmlDeviceGetUUID"),
            FunctionDescriptor.of(
                ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS,
                ValueLayout.ADDRESS,
                ValueLayout.JAVA_INT));
    utilizationRates =
        linker.downcallHandle(
            find(lib, "nvmlDeviceGetUtilizationRates"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
    memoryInfo =
        linker.downcallHandle(
            find(lib, "nvmlDeviceGetMemoryInfo"),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));

    check((int) init.invokeExact(), "nvmlInit_v2");
    List<MemorySegment> hs = new ArrayList<>();
    List<DeviceInfo> infos = new ArrayList<>();
    try (Arena call = Arena.ofConfined()) {
      MemorySegment n = call.allocate(ValueLayout.JAVA_INT);
      check((int) count.invokeExact(n), "nvmlDeviceGetCount_v2");
      int deviceCount = n.get(ValueLayout.JAVA_INT, 0);
      for (int i = 0; i < deviceCount; i++) {
        MemorySegment h = call.allocate(ValueLayout.ADDRESS);
        check((int) handleByIndex.invokeExact(i, h), "nvmlDeviceGetHandleByIndex_v2");
        MemorySegment handle = h.get(ValueLayout.ADDRESS, 0);
        MemorySegment nameBuf = call.allocate(NAME_BUFFER);
        check((int) name.invokeExact(handle, nameBuf, NAME_BUFFER), "nvmlDeviceGetName");
        MemorySegment uuidBuf = call.allocate(UUID_BUFFER);
        check((int) uuid.invokeExact(handle, uuidBuf, UUID_BUFFER), "nvmlDeviceGetUUID");
        hs.add(handle);
        infos.add(new DeviceInfo(i, nameBuf.getString(0), uuidBuf.getString(0)));
      }
    } catch (Throwable t) {
      int ignored = (int) shutdown.invokeExact();
      throw t;
    }
    handles = List.copyOf(hs);
    devices = List.copyOf(infos);
  }

  /**
   * Loads and initialises NVML, or returns empty (with the reason in {@code whyNot}) when there is
   * no NVIDIA driver or no device.
   */
  public static Optional<Nvml> load(StringBuilder whyNot) {
    Arena arena = Arena.ofShared();
    try {
      SymbolLookup lib = SymbolLookup.libraryLookup("libnvidia-ml.so.1", arena);
      Nvml nvml = new Nvml(arena, lib);
      if (nvml.devices.isEmpty()) {
        nvml.close();
        whyNot.append("NVML reports no GPU");
        return Optional.empty();
      }
      return Optional.of(nvml);
    } catch (IllegalArgumentException e) {
      // libraryLookup throws IAE when dlopen fails: no driver on this host.
      arena.close();
      whyNot.append("libnvidia-ml.so.1 not found (no NVIDIA driver): ").append(e.getMessage());
      return Optional.empty();
    } catch (Throwable t) {
      arena.close();
      whyNot.append("NVML unusable: ").append(t.getMessage());
      return Optional.empty();
    }
  }

  /** The devices NVML saw at start, in NVML index order. */
  public List<DeviceInfo> devices() {
    return devices;
  }

  /** Samples utilization and memory of every device; a device whose query fails is left out. */
  public List<DeviceSample> sample() {
    List<DeviceSample> out = new ArrayList<>(handles.size());
    if (closed) {
      return out;
    }
    try (Arena call = Arena.ofConfined()) {
      // nvmlUtilization_t { unsigned int gpu; unsigned int memory; }
      MemorySegment util = call.allocate(8, 4);
      // nvmlMemory_t { unsigned long long total; unsigned long long free; unsigned long long used;
      // }
      MemorySegment mem = call.allocate(24, 8);
      for (int i = 0; i < handles.size(); i++) {
        try {
          MemorySegment h = handles.get(i);
          check((int) utilizationRates.invokeExact(h, util), "nvmlDeviceGetUtilizationRates");
          check((int) memoryInfo.invokeExact(h, mem), "nvmlDeviceGetMemoryInfo");
          int gpuPercent = util.get(ValueLayout.JAVA_INT, 0);
          long total = mem.get(ValueLayout.JAVA_LONG, 0);
          long used = mem.get(ValueLayout.JAVA_LONG, 16);
          out.add(new DeviceSample(i, gpuPercent / 100.0, used, total));
        } catch (Throwable t) {
          // A device that fails one query (e.g. fell off the bus) is absent from this scrape only.
        }
      }
    }
    return out;
  }

  private void check(int rc, String function) throws NvmlException {
    if (rc != NVML_SUCCESS) {
      String text;
      try {
        MemorySegment s = (MemorySegment) errorString.invokeExact(rc);
        text = s.reinterpret(256).getString(0);
      } catch (Throwable t) {
        text = "unknown";
      }
      throw new NvmlException(function + " failed with NVML error " + rc + ": " + text);
    }
  }

  private static MemorySegment find(SymbolLookup lib, String name) {
    return lib.find(name)
        .orElseThrow(() -> new IllegalStateException("NVML symbol " + name + " missing"));
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      int ignored = (int) shutdown.invokeExact();
    } catch (Throwable ignored) {
      // Shutting down: nothing to do about a failing nvmlShutdown.
    }
    arena.close();
  }

  /** An NVML call returned an error code. */
  public static final class NvmlException extends Exception {
    NvmlException(String message) {
      super(message);
    }
  }
}
