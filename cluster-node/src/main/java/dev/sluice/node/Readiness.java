package dev.sluice.node;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;

/**
 * This node's readiness beyond cluster membership: named conditions that the node's role work
 * declares and then satisfies, e.g. a worker {@code require("model-loaded:<device>")} when it
 * starts loading and {@code satisfy(...)} once the model is in memory.
 *
 * <p>{@code /ready} on the management port is true when the node is Up in the cluster and every
 * required condition is satisfied; with no conditions declared (no worker yet) it is simply "Up". A
 * condition can be withdrawn again ({@link #unsatisfy}) when a node drains or loses its device,
 * which takes it out of load balancers without leaving the cluster.
 *
 * <p>Thread-safe: conditions are set from actors and read by the management HTTP server.
 */
public final class Readiness implements Extension {
  private final Map<String, Boolean> conditions = new ConcurrentHashMap<>();

  private Readiness() {}

  /** This actor system's readiness registry. */
  public static Readiness get(ActorSystem<?> system) {
    return Id.INSTANCE.apply(system);
  }

  /** Declares a condition that must be satisfied before the node is ready (not yet satisfied). */
  public void require(String condition) {
    conditions.putIfAbsent(checkName(condition), Boolean.FALSE);
  }

  /** Marks a condition satisfied (declaring it if needed). */
  public void satisfy(String condition) {
    conditions.put(checkName(condition), Boolean.TRUE);
  }

  /** Marks a condition unsatisfied again: the node stops being ready until it is satisfied. */
  public void unsatisfy(String condition) {
    conditions.put(checkName(condition), Boolean.FALSE);
  }

  /** Removes a condition altogether, e.g. when the work that declared it is gone for good. */
  public void withdraw(String condition) {
    conditions.remove(checkName(condition));
  }

  /** Whether every declared condition is satisfied (true when none is declared). */
  public boolean conditionsMet() {
    return !conditions.containsValue(Boolean.FALSE);
  }

  /** A sorted snapshot of the declared conditions and whether each is satisfied. */
  public Map<String, Boolean> snapshot() {
    return new TreeMap<>(conditions);
  }

  private static String checkName(String condition) {
    if (condition == null || condition.isBlank()) {
      throw new IllegalArgumentException("a readiness condition needs a name");
    }
    return condition;
  }

  /** The extension id; Pekko creates one {@link Readiness} per actor system. */
  public static final class Id extends ExtensionId<Readiness> {
    static final Id INSTANCE = new Id();

    private Id() {}

    @Override
    public Readiness createExtension(ActorSystem<?> system) {
      return new Readiness();
    }
  }
}
