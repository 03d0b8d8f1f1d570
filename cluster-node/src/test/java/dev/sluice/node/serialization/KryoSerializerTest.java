package dev.sluice.node.serialization;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.sluice.node.config.SettingsException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class KryoSerializerTest {
  enum Priority {
    CRITICAL,
    STANDARD,
    SHEDDABLE
  }

  record Usage(int promptTokens, int completionTokens) {
    Usage {
      if (promptTokens < 0) {
        throw new IllegalArgumentException("promptTokens < 0");
      }
    }
  }

  record Generate(
      String model,
      List<Integer> tokens,
      Map<String, String> headers,
      Priority priority,
      Usage usage,
      Optional<String> stop,
      float[] logits,
      Instant deadline,
      Duration timeout,
      UUID id,
      ArrayList<String> mutable,
      ActorRef<Usage> replyTo) {}

  record Unlisted(String text) {}

  enum Tick implements KryoMessage {
    INSTANCE
  }

  static final List<String> CLASSES =
      List.of(
          Priority.class.getName(),
          Usage.class.getName(),
          Generate.class.getName(),
          Tick.class.getName());

  static ActorTestKit a;
  static ActorTestKit b;

  static Config config(List<String> classes) {
    return ConfigFactory.parseMap(
            Map.of(
                "sluice.serialization.kryo.classes",
                classes,
                "pekko.remote.artery.canonical.port",
                0,
                "pekko.actor.serialize-messages",
                "on"))
        .withFallback(ConfigFactory.load());
  }

  @BeforeAll
  static void start() {
    a = ActorTestKit.create("kryo-a", config(CLASSES));
    // The same classes listed in another order: registration ids must not depend on the order.
    b = ActorTestKit.create("kryo-a", config(CLASSES.reversed()));
  }

  @AfterAll
  static void stop() {
    a.shutdownTestKit();
    b.shutdownTestKit();
  }

  private static Serialization serialization(ActorTestKit kit) {
    return SerializationExtension.get(Adapter.toClassic(kit.system()));
  }

  @Test
  void recordsRoundTripThroughKryoWhateverTheRegistrationOrder() {
    TestProbe<Usage> probe = a.createTestProbe();
    ArrayList<String> mutable = new ArrayList<>(List.of("x", "y"));
    Generate g =
        new Generate(
            "stories260K",
            List.of(1, 2, 3),
            Map.of("x-tenant", "acme"),
            Priority.SHEDDABLE,
            new Usage(12, 34),
            Optional.of("\n\n"),
            new float[] {0.5f, -1.25f},
            Instant.parse("2026-01-02T03:04:05Z"),
            Duration.ofMillis(1500),
            UUID.fromString("123e4567-e89b-12d3-a456-426614174000"),
            mutable,
            probe.ref());

    Serialization sa = serialization(a);
    assertThat(Serializers.manifestFor(sa.findSerializerFor(g), g)).isEmpty();
    assertThat(sa.findSerializerFor(g)).isInstanceOf(KryoSerializer.class);
    byte[] bytes = sa.serialize(g).get();

    Generate back =
        (Generate) serialization(b).deserialize(bytes, KryoSerializer.IDENTIFIER, "").get();
    assertThat(back).usingRecursiveComparison().ignoringFields("replyTo", "logits").isEqualTo(g);
    assertThat(back.logits()).containsExactly(0.5f, -1.25f);
    // On the other system the reference points back to the probe on system a.
    assertThat(back.replyTo().path().toStringWithoutAddress())
        .isEqualTo(probe.ref().path().toStringWithoutAddress());
    assertThat(back.replyTo().path().address())
        .isEqualTo(Adapter.toClassic(a.system()).provider().getDefaultAddress());

    // The deserialized reference is usable: it reaches the probe.
    Generate local = (Generate) sa.deserialize(bytes, KryoSerializer.IDENTIFIER, "").get();
    local.replyTo().tell(new Usage(1, 2));
    probe.expectMessage(new Usage(1, 2));
  }

  @Test
  void enumsMarkedKryoMessageRoundTrip() {
    byte[] bytes = serialization(a).serialize(Tick.INSTANCE).get();
    assertThat(serialization(b).deserialize(bytes, KryoSerializer.IDENTIFIER, "").get())
        .isSameAs(Tick.INSTANCE);
  }

  @Test
  void anUnregisteredRecordIsRefusedNamingItsClass() {
    assertThatThrownBy(() -> serialization(a).serialize(new Unlisted("secret")).get())
        .hasMessageContaining("Class is not registered")
        .hasMessageContaining(Unlisted.class.getName());
  }

  @Test
  void aMessageLargerThanTheLimitIsRefused() {
    // 100k floats = 400 KB > the 256 KiB default of sluice.serialization.kryo.max-message-size.
    Generate huge =
        new Generate(
            "m",
            List.of(),
            Map.of(),
            Priority.STANDARD,
            new Usage(0, 0),
            Optional.empty(),
            new float[100_000],
            Instant.EPOCH,
            Duration.ZERO,
            UUID.randomUUID(),
            new ArrayList<>(),
            a.<Usage>createTestProbe().ref());
    assertThatThrownBy(() -> serialization(a).serialize(huge).get())
        .hasMessageContaining("Buffer overflow");
  }

  @Test
  void statusRepliesCarryKryoPayloads() {
    // Pekko's own serializer writes the StatusReply wrapper and delegates the record to Kryo.
    StatusReply<Usage> reply = StatusReply.success(new Usage(7, 8));
    Serialization sa = serialization(a);
    byte[] bytes = sa.serialize(reply).get();
    Object back =
        serialization(b)
            .deserialize(
                bytes,
                sa.findSerializerFor(reply).identifier(),
                Serializers.manifestFor(sa.findSerializerFor(reply), reply))
            .get();
    assertThat(back).isEqualTo(reply);
  }

  @Test
  void javaSerializationIsOff() {
    assertThat(a.system().settings().config().getBoolean("pekko.actor.allow-java-serialization"))
        .isFalse();
  }

  @Test
  void aListedClassThatDoesNotExistIsRefusedAtStartUp() {
    assertThatThrownBy(
            () ->
                KryoSettings.fromConfig(
                    config(List.of("dev.sluice.NoSuchMessage")), getClass().getClassLoader()))
        .isInstanceOf(SettingsException.class)
        .hasMessageContaining("sluice.serialization.kryo.classes")
        .hasMessageContaining("dev.sluice.NoSuchMessage");
  }
}
