package dev.sluice.seed.routing;

import dev.sluice.node.worker.GpuWorker;
import dev.sluice.node.worker.WorkerProtocol;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.cluster.typed.Cluster;

/** How the gateway addresses a worker by its id (the id in its {@code LoadReport}). */
@FunctionalInterface
public interface WorkerDirectory {

  /** The Cluster Sharding type key of worker entities (GpuWorker, or SimulatedWorker). */
  EntityTypeKey<WorkerProtocol.Command> TYPE_KEY = GpuWorker.TYPE_KEY;

  RecipientRef<WorkerProtocol.Command> worker(String workerId);

  /** The cluster role of nodes that host worker entities. */
  String WORKER_ROLE = GpuWorker.ROLE;

  /**
   * Workers as Cluster Sharding entities of {@link #TYPE_KEY}. On a node without the worker role
   * this starts a sharding proxy for the type (it hosts no entities); on a worker node the worker's
   * own {@code init} (GpuWorker, or SimulatedWorker) starts the region, and references resolve
   * lazily at the first request, so the order of the two inits does not matter.
   */
  static WorkerDirectory sharded(ActorSystem<?> system) {
    ClusterSharding sharding = ClusterSharding.get(system);
    if (!Cluster.get(system).selfMember().getRoles().contains(WORKER_ROLE)) {
      sharding.init(
          Entity.of(TYPE_KEY, ctx -> Behaviors.<WorkerProtocol.Command>empty())
              .withRole(WORKER_ROLE)
              .withMessageExtractor(new GpuWorker.PinnedExtractor()));
    }
    return id -> sharding.entityRefFor(TYPE_KEY, id);
  }
}
