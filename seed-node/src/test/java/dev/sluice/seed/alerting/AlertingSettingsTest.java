package dev.sluice.seed.alerting;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AlertingSettingsTest {

  @Test
  void defaultsAreTheOperatorsThresholds() {
    List<String> skipped = new ArrayList<>();
    AlertingSettings s = AlertingSettings.fromConfig(ConfigFactory.load(), k -> null, skipped);
    assertThat(s.rules())
        .extracting(AlertRule::alertName, AlertRule::threshold, AlertRule::forDuration)
        .containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple("SluiceNodeCpuHigh", 0.85, Duration.ofMinutes(5)),
            org.assertj.core.groups.Tuple.tuple("SluiceGpuMemoryHigh", 0.90, Duration.ofMinutes(1)),
            org.assertj.core.groups.Tuple.tuple(
                "SluiceInterNodeLatencyHigh", 0.5, Duration.ofMinutes(1)),
            org.assertj.core.groups.Tuple.tuple(
                "SluiceQueueWaitSloBreached", 2.0, Duration.ofMinutes(5)),
            org.assertj.core.groups.Tuple.tuple(
                "SluiceRefusalRateHigh", 0.05, Duration.ofMinutes(5)),
            org.assertj.core.groups.Tuple.tuple(
                "SluiceMemberUnreachable", 0.0, Duration.ofMinutes(1)));
    // No address in the environment: every notifier is skipped, with the variable named.
    assertThat(s.notifiers()).isEmpty();
    assertThat(skipped).anyMatch(m -> m.contains("SLUICE_ALERT_DINGTALK_URL is not set"));
  }

  @Test
  void notifiersTakeAddressesAndSecretsFromTheEnvironment() {
    Map<String, String> env =
        Map.of(
            "SLUICE_ALERT_DINGTALK_URL", "https://oapi.dingtalk.com/robot/send?access_token=x",
            "SLUICE_ALERT_DINGTALK_SECRET", "SECabc",
            "SLUICE_ALERT_WEBHOOK_URL", "https://hooks.example.com/a",
            "SLUICE_ALERT_WEBHOOK_TOKEN", "t0k");
    AlertingSettings s =
        AlertingSettings.fromConfig(ConfigFactory.load(), env::get, new ArrayList<>());
    assertThat(s.notifiers())
        .extracting(
            AlertingSettings.NotifierSettings::name, AlertingSettings.NotifierSettings::secret)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple("dingtalk", "SECabc"),
            org.assertj.core.groups.Tuple.tuple("webhook", "t0k"));
    assertThat(s.notifiers().toString()).doesNotContain("access_token", "SECabc");
  }

  @Test
  void badValuesNameTheirKey() {
    assertThatThrownBy(
            () ->
                AlertingSettings.fromConfig(
                    ConfigFactory.parseString("sluice.alerting.rules.node-cpu-high.signal = cpu")
                        .withFallback(ConfigFactory.load()),
                    k -> null,
                    new ArrayList<>()))
        .hasMessageContaining("sluice.alerting.rules.node-cpu-high.signal");
    assertThatThrownBy(
            () ->
                AlertingSettings.fromConfig(
                    ConfigFactory.parseString("sluice.alerting.notifiers.slack.url = \"ftp://x\"")
                        .withFallback(ConfigFactory.load()),
                    k -> null,
                    new ArrayList<>()))
        .hasMessageContaining("sluice.alerting.notifiers.slack.url");
  }
}
