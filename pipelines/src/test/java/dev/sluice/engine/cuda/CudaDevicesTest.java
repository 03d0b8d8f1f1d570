package dev.sluice.engine.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.Backends;
import org.junit.jupiter.api.Test;

/** Discovery and selection behave on machines without CUDA (every CI machine). */
class CudaDevicesTest {

  @Test
  void discoveryNeverThrowsAndExplainsAnEmptyResult() {
    var devices = CudaDevices.discover();
    if (devices.isEmpty()) {
      assertThat(CudaDevices.unavailableReason()).isNotBlank();
    } else {
      assertThat(devices.get(0).totalMemory()).isPositive();
      assertThat(devices.get(0).ccMajor()).isGreaterThanOrEqualTo(7);
    }
    assertThat(CudaDevices.discover()).hasSameSizeAs(devices); // a second probe agrees
  }

  @Test
  void demandingCudaWithoutADriverFailsNamingTheReason() {
    assumeTrue(CudaDevices.discover().isEmpty(), "a CUDA device is present");
    assertThatThrownBy(() -> Backends.select("cuda", 0, 1))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("no CUDA device");
  }

  @Test
  void unknownDeviceNameIsRejected() {
    assertThatThrownBy(() -> Backends.select("tpu", 0, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("auto, cpu or cuda");
  }
}
