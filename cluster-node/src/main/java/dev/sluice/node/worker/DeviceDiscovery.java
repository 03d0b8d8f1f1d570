package dev.sluice.node.worker;

import dev.sluice.engine.Backend;
import dev.sluice.engine.cpu.CpuBackend;
import dev.sluice.engine.cpu.ScalarBackend;
import dev.sluice.engine.cuda.CudaBackend;
import dev.sluice.engine.cuda.CudaDevice;
import dev.sluice.engine.cuda.CudaDevices;
import dev.sluice.node.config.SettingsException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the devices of this node once, at start-up, and opens a {@link Backend} for each on the
 * device's own thread.
 *
 * <p>{@code sluice.worker.device}: {@code auto} serves one {@code gpu-N} worker per CUDA device
 * when a CUDA driver and a device exist, else {@code sluice.worker.cpu-slots} CPU slots; {@code
 * cuda} demands CUDA and refuses to start without it; {@code cpu} serves CPU slots only. {@code
 * sluice.worker.cuda-devices} narrows the GPUs to the listed driver ordinals. The choice, and why
 * (the driver's devices, or why CUDA is unusable), is logged once.
 */
public final class DeviceDiscovery {
  private static final Logger log = LoggerFactory.getLogger(DeviceDiscovery.class);

  private DeviceDiscovery() {}

  /**
   * The devices this node serves, one worker entity each; probes the CUDA driver unless {@code
   * device = cpu}, and logs the choice.
   *
   * @throws SettingsException naming {@code sluice.worker.device} when {@code cuda} is demanded and
   *     CUDA is unusable, or {@code sluice.worker.cuda-devices} when a listed device does not exist
   */
  public static List<Device> discover(WorkerSettings settings) {
    List<CudaDevice> found = settings.device().equals("cpu") ? List.of() : CudaDevices.discover();
    Choice c = choose(settings, found, CudaDevices.unavailableReason());
    log.info("Devices {}: {}", c.named(), c.why());
    return c.devices();
  }

  /**
   * The devices chosen and why, for the driver's answer {@code found} (with {@code reason} why it
   * found none); the pure half of {@link #discover}.
   */
  static Choice choose(WorkerSettings s, List<CudaDevice> found, String reason) {
    switch (s.device()) {
      case "cpu" -> {
        return cpuSlots(s, WorkerSettings.DEVICE_KEY + " = cpu");
      }
      case "cuda" -> {
        if (found.isEmpty()) {
          throw new SettingsException(
              WorkerSettings.DEVICE_KEY,
              "is cuda, but CUDA is unusable on this node ("
                  + reason
                  + "); use auto or cpu to serve on the CPU");
        }
        return gpus(s, found, WorkerSettings.DEVICE_KEY + " = cuda");
      }
      default -> {
        if (found.isEmpty()) {
          return cpuSlots(s, WorkerSettings.DEVICE_KEY + " = auto, CUDA not used: " + reason);
        }
        return gpus(
            s,
            found,
            WorkerSettings.DEVICE_KEY
                + " = auto, the CUDA driver reports "
                + found.size()
                + " device(s)");
      }
    }
  }

  private static Choice cpuSlots(WorkerSettings s, String why) {
    List<Device> devices = new ArrayList<>();
    Map<String, String> named = new TreeMap<>();
    for (int i = 0; i < s.cpuSlots(); i++) {
      Device d = new Device(Device.Kind.CPU, i);
      devices.add(d);
      named.put(d.id(), s.backend() + " backend, threads=" + s.threadsPerSlot());
    }
    return new Choice(devices, named, why + "; " + s.cpuSlots() + " CPU slot(s)");
  }

  private static Choice gpus(WorkerSettings s, List<CudaDevice> found, String why) {
    List<Device> devices = new ArrayList<>();
    Map<String, String> named = new TreeMap<>();
    List<Integer> wanted =
        s.cudaDevices().isEmpty()
            ? found.stream().map(CudaDevice::index).toList()
            : s.cudaDevices();
    for (int index : wanted) {
      CudaDevice cd = found.stream().filter(f -> f.index() == index).findFirst().orElse(null);
      if (cd == null) {
        throw new SettingsException(
            WorkerSettings.CUDA_DEVICES_KEY,
            "lists CUDA device "
                + index
                + ", but the driver reports only "
                + found.stream().map(CudaDevice::index).toList());
      }
      Device d = new Device(Device.Kind.CUDA, index);
      devices.add(d);
      named.put(d.id(), cd.toString());
    }
    String which =
        s.cudaDevices().isEmpty() ? "all of them" : WorkerSettings.CUDA_DEVICES_KEY + " " + wanted;
    return new Choice(devices, named, why + "; serving " + which);
  }

  /**
   * What {@link #discover} chose.
   *
   * @param devices one worker each, in order
   * @param named each device's id and what it is (the GPU's name and memory, or the CPU backend)
   * @param why the setting and the driver's answer that led to the choice
   */
  record Choice(List<Device> devices, Map<String, String> named, String why) {}

  /**
   * Opens the backend of {@code device}; called on the device's own thread, which then owns it (a
   * CUDA context is created here and used only from this thread).
   */
  public static Backend open(Device device, WorkerSettings settings) {
    return switch (device.kind()) {
      case CPU ->
          settings.backend().equals("scalar")
              ? new ScalarBackend()
              : new CpuBackend(settings.threadsPerSlot());
      case CUDA -> new CudaBackend(device.index());
    };
  }
}
