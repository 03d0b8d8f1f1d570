package dev.sluice.node.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.typesafe.config.ConfigFactory;
import dev.sluice.engine.cuda.CudaDevice;
import dev.sluice.engine.cuda.CudaDevices;
import dev.sluice.node.config.SettingsException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The device choice at start-up: the driver's answer is given as data (two pretend H100s, or none
 * with a reason), and the real probe is exercised on this machine, which has no CUDA driver.
 */
class DeviceDiscoveryTest {
  private static final List<CudaDevice> TWO_GPUS =
      List.of(
          new CudaDevice(0, "NVIDIA H100 80GB HBM3", 80L << 30, 9, 0, 132),
          new CudaDevice(1, "NVIDIA H100 80GB HBM3", 80L << 30, 9, 0, 132));

  private static WorkerSettings settings(Map<String, Object> overrides) {
    return WorkerSettings.fromConfig(
        ConfigFactory.parseMap(overrides).withFallback(ConfigFactory.defaultReference()).resolve());
  }

  private static List<String> ids(DeviceDiscovery.Choice c) {
    return c.devices().stream().map(Device::id).toList();
  }

  @Test
  void autoWithoutADriverServesTheCpuSlotsAndSaysWhy() {
    var c =
        DeviceDiscovery.choose(
            settings(Map.of("sluice.worker.device", "auto", "sluice.worker.cpu-slots", 2)),
            List.of(),
            "no CUDA driver: libcuda.so not found");
    assertThat(ids(c)).containsExactly("cpu-0", "cpu-1");
    assertThat(c.why()).contains("CUDA not used: no CUDA driver: libcuda.so not found");
  }

  @Test
  void autoWithGpusServesOneWorkerPerGpuAndNoCpuSlot() {
    var c =
        DeviceDiscovery.choose(
            settings(Map.of("sluice.worker.device", "auto", "sluice.worker.cpu-slots", 3)),
            TWO_GPUS,
            null);
    assertThat(ids(c)).containsExactly("gpu-0", "gpu-1");
    assertThat(c.devices()).allMatch(d -> d.kind() == Device.Kind.CUDA);
    assertThat(c.named().get("gpu-1")).contains("NVIDIA H100").contains("sm_90");
    assertThat(GpuWorker.entityId("10.0.0.5", 25520, c.devices().get(1)))
        .isEqualTo("10.0.0.5:25520:gpu-1");
    assertThat(Device.parse("gpu-1")).isEqualTo(c.devices().get(1));
  }

  @Test
  void cudaDevicesNarrowsTheGpusAndAnUnknownIndexNamesTheKey() {
    var c =
        DeviceDiscovery.choose(
            settings(Map.of("sluice.worker.cuda-devices", List.of(1))), TWO_GPUS, null);
    assertThat(ids(c)).containsExactly("gpu-1");
    assertThatThrownBy(
            () ->
                DeviceDiscovery.choose(
                    settings(Map.of("sluice.worker.cuda-devices", "0,2")), TWO_GPUS, null))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.worker.cuda-devices")
        .hasMessageContaining("2");
  }

  @Test
  void cpuIgnoresTheGpus() {
    var c = DeviceDiscovery.choose(settings(Map.of("sluice.worker.device", "cpu")), TWO_GPUS, null);
    assertThat(ids(c)).containsExactly("cpu-0");
  }

  @Test
  void cudaWithoutADriverIsAClearStartUpError() {
    assertThatThrownBy(
            () ->
                DeviceDiscovery.choose(
                    settings(Map.of("sluice.worker.device", "cuda")),
                    List.of(),
                    "no CUDA driver: libcuda.so not found"))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.worker.device")
        .hasMessageContaining("no CUDA driver: libcuda.so not found")
        .hasMessageContaining("auto or cpu");
  }

  @Test
  void theRealProbeOnThisMachineFallsBackOrRefuses() {
    assumeTrue(CudaDevices.discover().isEmpty(), "a CUDA device is present");
    assertThat(DeviceDiscovery.discover(settings(Map.of("sluice.worker.device", "auto"))))
        .containsExactly(new Device(Device.Kind.CPU, 0));
    assertThatThrownBy(
            () -> DeviceDiscovery.discover(settings(Map.of("sluice.worker.device", "cuda"))))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.worker.device")
        .hasMessageContaining(CudaDevices.unavailableReason());
  }
}
