package dev.sluice.seed.alerting;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.node.metrics.NodeSnapshot;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class AlertEvaluatorTest {

  static final AlertRule CPU =
      new AlertRule(
          "node-cpu-high",
          "SluiceNodeCpuHigh",
          NodeSnapshot.NODE_CPU,
          0.85,
          Duration.ofMinutes(5),
          "warning",
          "ratio",
          "CPU on {node} at {value}",
          "look");
  static final AlertRule GPU =
      new AlertRule(
          "gpu-memory-high",
          "SluiceGpuMemoryHigh",
          NodeSnapshot.GPU_MEMORY,
          0.90,
          Duration.ZERO,
          "warning",
          "ratio",
          "GPU {subject} at {value}",
          "look");

  static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

  static NodeSnapshot snap(String node, Instant at, NodeSnapshot.Signal... signals) {
    return new NodeSnapshot(node, at.toEpochMilli(), List.of(signals));
  }

  static NodeSnapshot.Signal cpu(double v) {
    return new NodeSnapshot.Signal(NodeSnapshot.NODE_CPU, "", v);
  }

  @Test
  void firesAfterForDurationRepeatsAndResolves() {
    AlertEvaluator e =
        new AlertEvaluator(List.of(CPU), Duration.ofMinutes(30), Duration.ofMinutes(1));
    // Above the threshold, but not yet for 5 minutes: pending, silent.
    for (int s = 0; s < 300; s += 5) {
      Instant now = T0.plusSeconds(s);
      assertThat(e.evaluate(now, List.of(snap("n1:1", now, cpu(0.92))))).isEmpty();
    }
    Instant fire = T0.plusSeconds(300);
    List<Alert> fired = e.evaluate(fire, List.of(snap("n1:1", fire, cpu(0.93))));
    assertThat(fired)
        .singleElement()
        .satisfies(
            a -> {
              assertThat(a.status()).isEqualTo(Alert.Status.FIRING);
              assertThat(a.repeat()).isFalse();
              assertThat(a.node()).isEqualTo("n1:1");
              assertThat(a.summary()).isEqualTo("CPU on n1:1 at 93.0%");
              assertThat(a.startsAt()).isEqualTo(fire);
            });
    assertThat(e.active()).hasSize(1);
    // Still firing: no repeat before the repeat interval ...
    Instant t = fire.plusSeconds(29 * 60);
    assertThat(e.evaluate(t, List.of(snap("n1:1", t, cpu(0.95))))).isEmpty();
    // ... then one reminder.
    t = fire.plusSeconds(30 * 60);
    assertThat(e.evaluate(t, List.of(snap("n1:1", t, cpu(0.95)))))
        .singleElement()
        .satisfies(a -> assertThat(a.repeat()).isTrue());
    // Back under the threshold: resolved once, then nothing.
    Instant clear = t.plusSeconds(5);
    assertThat(e.evaluate(clear, List.of(snap("n1:1", clear, cpu(0.40)))))
        .singleElement()
        .satisfies(
            a -> {
              assertThat(a.status()).isEqualTo(Alert.Status.RESOLVED);
              assertThat(a.endsAt()).isEqualTo(clear);
              assertThat(a.startsAt()).isEqualTo(fire);
            });
    Instant later = clear.plusSeconds(5);
    assertThat(e.evaluate(later, List.of(snap("n1:1", later, cpu(0.40))))).isEmpty();
    assertThat(e.active()).isEmpty();
  }

  @Test
  void aDipResetsThePendingTimer() {
    AlertEvaluator e = new AlertEvaluator(List.of(CPU), Duration.ofHours(1), Duration.ofMinutes(1));
    Instant t = T0;
    e.evaluate(t, List.of(snap("n1:1", t, cpu(0.9))));
    t = T0.plusSeconds(200);
    e.evaluate(t, List.of(snap("n1:1", t, cpu(0.5)))); // dip
    t = T0.plusSeconds(310);
    assertThat(e.evaluate(t, List.of(snap("n1:1", t, cpu(0.9))))).isEmpty();
    t = T0.plusSeconds(310 + 300);
    assertThat(e.evaluate(t, List.of(snap("n1:1", t, cpu(0.9))))).hasSize(1);
  }

  @Test
  void alertsArePerNodeAndSubjectAndASilentNodeResolves() {
    AlertEvaluator e =
        new AlertEvaluator(List.of(GPU), Duration.ofHours(1), Duration.ofSeconds(30));
    Instant t = T0;
    List<Alert> fired =
        e.evaluate(
            t,
            List.of(
                snap(
                    "n1:1",
                    t,
                    new NodeSnapshot.Signal(NodeSnapshot.GPU_MEMORY, "0", 0.95),
                    new NodeSnapshot.Signal(NodeSnapshot.GPU_MEMORY, "1", 0.20)),
                snap("n2:1", t, new NodeSnapshot.Signal(NodeSnapshot.GPU_MEMORY, "0", 0.97))));
    assertThat(fired)
        .extracting(Alert::key)
        .containsExactly("SluiceGpuMemoryHigh|n1:1|0", "SluiceGpuMemoryHigh|n2:1|0");
    // n2 stops reporting: after stale-after its alert resolves; n1's stays.
    Instant later = T0.plusSeconds(31);
    List<Alert> next =
        e.evaluate(
            later,
            List.of(
                snap("n1:1", later, new NodeSnapshot.Signal(NodeSnapshot.GPU_MEMORY, "0", 0.95)),
                snap("n2:1", t, new NodeSnapshot.Signal(NodeSnapshot.GPU_MEMORY, "0", 0.97))));
    assertThat(next)
        .singleElement()
        .satisfies(
            a -> {
              assertThat(a.key()).isEqualTo("SluiceGpuMemoryHigh|n2:1|0");
              assertThat(a.status()).isEqualTo(Alert.Status.RESOLVED);
            });
  }
}
