package dev.sluice.seed.routing;

import dev.sluice.node.worker.WorkerProtocol;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/** How the gateway addresses a worker by its id (the id in its {@code LoadReport}). */
@FunctionalInterface
public interface WorkerDirectory {

  /**
   * The Cluster Sharding type key of worker entities. Defined here, in one place, until the worker
   * branch's {@code GpuWorker} names its own; both must use the same name.
   */
  EntityTypeKey<WorkerProtocol.Command> TYPE_KEY =
      EntityTypeKey.create(WorkerProtocol.Command.class, "GpuWorker");

  RecipientRef<WorkerProtocol.Command> worker(String workerId);

  /** Workers as Cluster Sharding entities of {@link #TYPE_KEY}. */
  static WorkerDirectory sharded(ActorSystem<?> system) {
    ClusterSharding sharding = ClusterSharding.get(system);
    return id -> sharding.entityRefFor(TYPE_KEY, id);
  }
}
