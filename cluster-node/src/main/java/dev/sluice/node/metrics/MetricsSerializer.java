package dev.sluice.node.metrics;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.NotSerializableException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializerWithStringManifest;

/**
 * Wire format of the metrics messages that cross the network: {@link PeerPinger.Ping}, {@link
 * PeerPinger.Pong} and {@link NodeSnapshot}. A dedicated, fixed binary layout: these messages are
 * tiny and frequent (a ping per peer every few seconds), and a stable format lets nodes of two
 * versions keep measuring each other during a rolling upgrade. Bound in {@code reference.conf}
 * ({@code pekko.actor.serialization-bindings}).
 */
public final class MetricsSerializer extends SerializerWithStringManifest {

  private static final String PING = "P";
  private static final String PONG = "O";
  private static final String SNAPSHOT = "S";

  private final ActorRefResolver resolver;

  public MetricsSerializer(ExtendedActorSystem system) {
    this.resolver = ActorRefResolver.get(Adapter.toTyped(system));
  }

  @Override
  public int identifier() {
    // Unique among the serializers of the system; see pekko.actor.serialization-identifiers.
    return 1_513_071;
  }

  @Override
  public String manifest(Object o) {
    return switch (o) {
      case PeerPinger.Ping p -> PING;
      case PeerPinger.Pong p -> PONG;
      case NodeSnapshot s -> SNAPSHOT;
      default -> throw new IllegalArgumentException("Cannot serialize " + o.getClass().getName());
    };
  }

  @Override
  public byte[] toBinary(Object o) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      switch (o) {
        case PeerPinger.Ping p -> {
          out.writeLong(p.seq());
          out.writeLong(p.sentNanos());
          out.writeUTF(resolver.toSerializationFormat(p.replyTo()));
        }
        case PeerPinger.Pong p -> {
          out.writeLong(p.seq());
          out.writeLong(p.sentNanos());
        }
        case NodeSnapshot s -> {
          out.writeUTF(s.node());
          out.writeLong(s.atEpochMillis());
          out.writeInt(s.signals().size());
          for (NodeSnapshot.Signal sig : s.signals()) {
            out.writeUTF(sig.name());
            out.writeUTF(sig.subject());
            out.writeDouble(sig.value());
          }
        }
        default -> throw new IllegalArgumentException("Cannot serialize " + o.getClass().getName());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  @Override
  public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      return switch (manifest) {
        case PING -> {
          long seq = in.readLong();
          long sent = in.readLong();
          ActorRef<PeerPinger.Pong> replyTo = resolver.resolveActorRef(in.readUTF());
          yield new PeerPinger.Ping(seq, sent, replyTo);
        }
        case PONG -> new PeerPinger.Pong(in.readLong(), in.readLong());
        case SNAPSHOT -> {
          String node = in.readUTF();
          long at = in.readLong();
          int n = in.readInt();
          if (n < 0 || n > 100_000) {
            throw new NotSerializableException("NodeSnapshot with " + n + " signals");
          }
          List<NodeSnapshot.Signal> signals = new ArrayList<>(n);
          for (int i = 0; i < n; i++) {
            signals.add(new NodeSnapshot.Signal(in.readUTF(), in.readUTF(), in.readDouble()));
          }
          yield new NodeSnapshot(node, at, signals);
        }
        default -> throw new NotSerializableException("Unknown metrics manifest " + manifest);
      };
    } catch (IOException e) {
      NotSerializableException n = new NotSerializableException(e.getMessage());
      n.initCause(e);
      throw n;
    }
  }
}
