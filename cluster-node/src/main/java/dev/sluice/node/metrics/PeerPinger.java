package dev.sluice.node.metrics;

import io.prometheus.metrics.core.datapoints.GaugeDataPoint;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * Measures the round-trip time to every other node: each node runs one pinger, registered with the
 * receptionist; every {@code sluice.metrics.ping.interval} it pings each peer it knows and records
 * the answer's round trip in {@code sluice_peer_round_trip_seconds{peer}}.
 *
 * <p>The round trip is measured with the sender's own monotonic clock (the ping carries its send
 * time and the pong echoes it), so clock skew between nodes does not matter. One ping per peer is
 * outstanding at a time; while it is unanswered the gauge shows at least its age, so a link that
 * stops answering shows a growing latency (and trips the latency alert) instead of its last good
 * value. After {@code sluice.metrics.ping.timeout} it counts in {@code
 * sluice_peer_ping_timeouts_total} and a fresh ping goes out. A peer that leaves the receptionist
 * listing has its series removed.
 *
 * <p>Failure semantics: the pinger holds no state worth keeping; it is supervised with restart.
 */
public final class PeerPinger extends AbstractBehavior<PeerPinger.Command> {

  /** The receptionist key every node's pinger registers under. */
  public static final ServiceKey<Command> KEY =
      ServiceKey.create(Command.class, "sluice-peer-ping");

  /** Messages of the pinger. {@link Ping} and {@link Pong} cross the network. */
  public sealed interface Command permits Ping, Pong, Tick, PeersChanged {}

  /** Asks a peer to echo {@code sentNanos} back to {@code replyTo}. */
  public record Ping(long seq, long sentNanos, ActorRef<Pong> replyTo) implements Command {}

  /** The echo of a {@link Ping}. */
  public record Pong(long seq, long sentNanos) implements Command {}

  enum Tick implements Command {
    INSTANCE
  }

  private record PeersChanged(Receptionist.Listing listing) implements Command {}

  private record Outstanding(long seq, long sentNanos) {}

  private final SluiceMetrics metrics;
  private final MetricsSettings settings;
  private final Map<ActorRef<Command>, Outstanding> outstanding = new HashMap<>();
  private final Map<ActorRef<Command>, String> peers = new HashMap<>();
  private final Map<String, GaugeDataPoint> gauges = new HashMap<>();
  private long nextSeq;

  /** The pinger's behavior; started by {@link NodeMetrics}. */
  public static Behavior<Command> create(SluiceMetrics metrics, MetricsSettings settings) {
    return Behaviors.setup(
        ctx ->
            Behaviors.withTimers(
                timers -> {
                  timers.startTimerWithFixedDelay(Tick.INSTANCE, settings.pingInterval());
                  return new PeerPinger(ctx, metrics, settings);
                }));
  }

  private PeerPinger(ActorContext<Command> ctx, SluiceMetrics metrics, MetricsSettings settings) {
    super(ctx);
    this.metrics = metrics;
    this.settings = settings;
    ActorRef<Receptionist.Listing> adapter =
        ctx.messageAdapter(Receptionist.Listing.class, PeersChanged::new);
    ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
    ctx.getSystem().receptionist().tell(Receptionist.subscribe(KEY, adapter));
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Ping.class, this::onPing)
        .onMessage(Pong.class, this::onPong)
        .onMessageEquals(Tick.INSTANCE, this::onTick)
        .onMessage(PeersChanged.class, this::onPeersChanged)
        .build();
  }

  private Behavior<Command> onPing(Ping p) {
    p.replyTo().tell(new Pong(p.seq(), p.sentNanos()));
    return this;
  }

  private Behavior<Command> onPong(Pong p) {
    // Find the peer by its outstanding sequence number: the pong carries no sender.
    for (Map.Entry<ActorRef<Command>, Outstanding> e : outstanding.entrySet()) {
      if (e.getValue().seq() == p.seq()) {
        double rtt = (System.nanoTime() - p.sentNanos()) / 1e9;
        gauge(peers.get(e.getKey())).set(rtt);
        outstanding.remove(e.getKey());
        break;
      }
    }
    // A pong whose ping already timed out is ignored: its timeout was counted.
    return this;
  }

  private Behavior<Command> onTick() {
    long now = System.nanoTime();
    long timeoutNanos = settings.pingTimeout().toNanos();
    for (Map.Entry<ActorRef<Command>, String> e : peers.entrySet()) {
      ActorRef<Command> peer = e.getKey();
      Outstanding o = outstanding.get(peer);
      if (o != null) {
        long age = now - o.sentNanos();
        GaugeDataPoint g = gauge(e.getValue());
        if (age / 1e9 > g.get()) {
          g.set(age / 1e9);
        }
        if (age < timeoutNanos) {
          continue;
        }
        metrics.peerPingTimeouts.labelValues(e.getValue()).inc();
      }
      long seq = nextSeq++;
      outstanding.put(peer, new Outstanding(seq, now));
      peer.tell(new Ping(seq, now, getContext().getSelf().narrow()));
    }
    return this;
  }

  private Behavior<Command> onPeersChanged(PeersChanged changed) {
    Set<ActorRef<Command>> now = new HashSet<>(changed.listing().getServiceInstances(KEY));
    now.remove(getContext().getSelf());
    for (ActorRef<Command> gone : Set.copyOf(peers.keySet())) {
      if (!now.contains(gone)) {
        String label = peers.remove(gone);
        outstanding.remove(gone);
        gauges.remove(label);
        metrics.peerRoundTrip.remove(label);
        metrics.peerPingTimeouts.remove(label);
      }
    }
    for (ActorRef<Command> peer : now) {
      peers.computeIfAbsent(peer, PeerPinger::peerLabel);
    }
    return this;
  }

  private GaugeDataPoint gauge(String label) {
    return gauges.computeIfAbsent(label, l -> metrics.peerRoundTrip.labelValues(l));
  }

  /** A peer's label: its node address {@code host:port} (the address of its actor system). */
  static String peerLabel(ActorRef<?> ref) {
    return nodeLabel(ref.path().address());
  }

  /** A node's label: {@code host:port} of its actor system, or the system name when local. */
  static String nodeLabel(org.apache.pekko.actor.Address address) {
    if (address.host().isDefined() && address.port().isDefined()) {
      return address.host().get() + ":" + address.port().get();
    }
    return address.system();
  }
}
