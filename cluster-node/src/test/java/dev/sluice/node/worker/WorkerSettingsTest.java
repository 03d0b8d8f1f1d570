package dev.sluice.node.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.sluice.node.config.SettingsException;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Worker and pipeline settings: defaults from reference.conf, and refusals naming the key. */
class WorkerSettingsTest {

  private static Config with(Map<String, Object> overrides) {
    return ConfigFactory.parseMap(overrides)
        .withFallback(ConfigFactory.defaultReference())
        .resolve();
  }

  @Test
  void defaultsServeTheTinyModelOnOneCpuSlot() {
    for (String v : new String[] {"SLUICE_MODEL", "SLUICE_MODEL_NAME", "SLUICE_CPU_SLOTS"}) {
      assumeTrue(System.getenv(v) == null, v + " is set in the environment: defaults not visible");
    }
    WorkerSettings s = WorkerSettings.fromConfig(with(Map.of()));
    assertThat(s.model()).isEqualTo("hf://ggml-org/models/tinyllamas/stories260K.gguf");
    assertThat(s.modelName()).isEqualTo("stories260K");
    assertThat(s.cpuSlots()).isEqualTo(1);
    if (System.getenv("SLUICE_DEVICE") == null && System.getenv("SLUICE_CUDA_DEVICES") == null) {
      assertThat(s.device()).isEqualTo("auto");
      assertThat(s.cudaDevices()).isEmpty();
    }
    assertThat(s.loadReportInterval()).isEqualTo(Duration.ofSeconds(1));
    if (System.getenv("SLUICE_WARM_UP") == null) {
      assertThat(s.warmUp()).isEqualTo(Duration.ofSeconds(20));
    }
    assertThat(s.engine().kvBlockSize()).isEqualTo(16);
    assertThat(s.pipeline().prefetchParallelism()).isEqualTo(2);
    assertThat(s.pipeline().prefetchDepth()).isEqualTo(8);
  }

  @Test
  void modelNameDefaultsToTheFileName() {
    assertThat(WorkerSettings.defaultName("/models/Qwen2-0.5B-Q8_0.gguf"))
        .isEqualTo("Qwen2-0.5B-Q8_0");
    assertThat(WorkerSettings.defaultName("hf://o/r/x/m.gguf#sha256=ab")).isEqualTo("m");
    assertThat(
            WorkerSettings.fromConfig(with(Map.of("sluice.worker.model-name", "tiny"))).modelName())
        .isEqualTo("tiny");
  }

  @Test
  void deviceChoiceIsReadInBothForms() {
    WorkerSettings s =
        WorkerSettings.fromConfig(
            with(Map.of("sluice.worker.device", " CUDA ", "sluice.worker.cuda-devices", "1, 0")));
    assertThat(s.device()).isEqualTo("cuda");
    assertThat(s.cudaDevices()).containsExactly(1, 0);
    assertThat(
            WorkerSettings.fromConfig(
                    with(Map.of("sluice.worker.cuda-devices", java.util.List.of(2, 3))))
                .cudaDevices())
        .containsExactly(2, 3);
  }

  @Test
  void badDeviceValuesNameTheirKey() {
    assertThatThrownBy(() -> WorkerSettings.fromConfig(with(Map.of("sluice.worker.device", "gpu"))))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.worker.device")
        .hasMessageContaining("auto, cpu or cuda")
        .hasMessageContaining("'gpu'");
    for (Object bad : new Object[] {"0,x", "-1", "1,1", java.util.List.of(0, 0)}) {
      assertThatThrownBy(
              () -> WorkerSettings.fromConfig(with(Map.of("sluice.worker.cuda-devices", bad))))
          .as("cuda-devices = %s", bad)
          .isInstanceOf(SettingsException.class)
          .hasMessageContaining("sluice.worker.cuda-devices");
    }
  }

  @Test
  void badValuesNameTheirKey() {
    assertThatThrownBy(
            () -> WorkerSettings.fromConfig(with(Map.of("sluice.worker.warm-up", "-1s"))))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.worker.warm-up")
        .hasMessageContaining("out of range");
    assertThat(WorkerSettings.fromConfig(with(Map.of("sluice.worker.warm-up", "0s"))).warmUp())
        .isZero();
    assertThatThrownBy(
            () -> WorkerSettings.fromConfig(with(Map.of("sluice.worker.kv-block-size", 12))))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.worker.kv-block-size");
    assertThatThrownBy(
            () ->
                WorkerSettings.fromConfig(
                    with(
                        Map.of(
                            "sluice.worker.max-seqs", 64, "sluice.worker.step-token-budget", 8))))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.worker.step-token-budget");
    assertThatThrownBy(
            () ->
                WorkerSettings.fromConfig(with(Map.of("sluice.pipeline.prefetch-parallelism", 0))))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.pipeline.prefetch-parallelism");
    assertThatThrownBy(
            () -> WorkerSettings.fromConfig(with(Map.of("sluice.worker.backend", "gpu"))))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.worker.backend");
    assertThatThrownBy(() -> WorkerSettings.fromConfig(with(Map.of("sluice.worker.model", ""))))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.worker.model");
  }
}
