package dev.sluice.node.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * A peer that stops answering shows a growing round trip (so the latency alert trips) and counts
 * timeouts; when it answers again the round trip drops back to the measured value.
 */
class PeerPingerSilentPeerTest {

  static final ActorTestKit testKit =
      ActorTestKit.create(
          com.typesafe.config.ConfigFactory.parseString("pekko.loglevel = WARNING"));

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  @Test
  void silentPeerShowsItsAgeAndTimesOut() {
    SluiceMetrics metrics = new SluiceMetrics(new PrometheusRegistry());
    MetricsSettings settings =
        new MetricsSettings(
            false,
            false,
            Duration.ofMillis(100),
            Duration.ofMillis(600),
            Duration.ofSeconds(5),
            Duration.ofMinutes(1),
            20);
    TestProbe<PeerPinger.Command> peer = testKit.createTestProbe();
    TestProbe<Receptionist.Registered> registered = testKit.createTestProbe();
    testKit
        .system()
        .receptionist()
        .tell(Receptionist.register(PeerPinger.KEY, peer.getRef(), registered.getRef()));
    registered.receiveMessage();
    testKit.spawn(PeerPinger.create(metrics, settings));
    String label = PeerPinger.peerLabel(peer.getRef());

    // The peer receives pings and never answers.
    PeerPinger.Ping first = peer.expectMessageClass(PeerPinger.Ping.class, Duration.ofSeconds(5));
    Awaitility.await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> {
              assertThat(metrics.peerPingTimeouts.labelValues(label).get())
                  .isGreaterThanOrEqualTo(1);
              assertThat(metrics.peerRoundTrip.labelValues(label).get())
                  .isGreaterThanOrEqualTo(0.5);
            });
    // A re-sent ping (new sequence number) arrives after the timeout.
    PeerPinger.Ping retry = peer.expectMessageClass(PeerPinger.Ping.class, Duration.ofSeconds(5));
    assertThat(retry.seq()).isGreaterThan(first.seq());

    // The peer answers again: the gauge shows the real (small) round trip.
    PeerPinger.Ping next = retry;
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (metrics.peerRoundTrip.labelValues(label).get() > 0.5 && System.nanoTime() < deadline) {
      next.replyTo().tell(new PeerPinger.Pong(next.seq(), next.sentNanos()));
      next = peer.expectMessageClass(PeerPinger.Ping.class, Duration.ofSeconds(5));
    }
    assertThat(metrics.peerRoundTrip.labelValues(label).get()).isLessThan(0.5);
  }
}
