package dev.sluice.node.worker;

import dev.sluice.engine.Backend;
import dev.sluice.engine.cpu.CpuBackend;
import dev.sluice.engine.cpu.ScalarBackend;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds the devices of this node at start-up and opens a {@link Backend} for each, on the device's
 * own thread.
 *
 * <p>CUDA plugs in here: when the {@code cuda} work lands, {@link #discover} asks {@code
 * dev.sluice.engine.Backends} for the GPUs (CUDA through LWJGL when a driver is present) and lists
 * {@code cuda-N} devices, and {@link #open} calls {@code Backends.select(device, index, threads)}.
 * Until then, and on nodes without a driver, the node serves {@code sluice.worker.cpu-slots} CPU
 * slots.
 */
public final class DeviceDiscovery {
  private DeviceDiscovery() {}

  /** The devices this node serves, one worker entity each. */
  public static List<Device> discover(WorkerSettings settings) {
    List<Device> devices = new ArrayList<>();
    // ---- CUDA discovery plugs in here (GPUs first; CPU slots only on nodes without one).
    for (int i = 0; i < settings.cpuSlots(); i++) {
      devices.add(new Device(Device.Kind.CPU, i));
    }
    return devices;
  }

  /** Opens the backend of {@code device}; called on the device's own thread. */
  public static Backend open(Device device, WorkerSettings settings) {
    return switch (device.kind()) {
      case CPU ->
          settings.backend().equals("scalar")
              ? new ScalarBackend()
              : new CpuBackend(settings.threadsPerSlot());
      case CUDA ->
          throw new IllegalStateException(
              "CUDA backend not available in this build for " + device.id());
    };
  }
}
