package dev.sluice.node;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;

/**
 * Pekko Management readiness check for {@code /ready}, registered in {@code reference.conf} under
 * {@code pekko.management.health-checks.readiness-checks.sluice}. It reports the {@link Readiness}
 * conditions; Pekko's own cluster-membership check, which runs beside it, requires the node Up.
 */
public final class ReadinessCheck implements Supplier<CompletionStage<Boolean>> {
  private final Readiness readiness;

  /** Called by Pekko Management with the node's (classic) actor system. */
  public ReadinessCheck(ActorSystem system) {
    this.readiness = Readiness.get(Adapter.toTyped(system));
  }

  @Override
  public CompletionStage<Boolean> get() {
    return CompletableFuture.completedFuture(readiness.conditionsMet());
  }
}
