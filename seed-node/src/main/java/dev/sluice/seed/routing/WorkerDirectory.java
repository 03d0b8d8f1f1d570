package dev.sluice.seed.routing;

import dev.sluice.node.worker.WorkerProtocol;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.ShardingMessageExtractor;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.cluster.typed.Cluster;

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

  /** The cluster role of nodes that host worker entities. */
  String WORKER_ROLE = "worker";

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
              .withMessageExtractor(new PinnedExtractor()));
    }
    return id -> sharding.entityRefFor(TYPE_KEY, id);
  }

  /**
   * One shard per entity, named like it (as the worker branch's {@code GpuWorker}), so that
   * external shard allocation can pin each device's worker to its node; proxies and regions must
   * all use the same extractor.
   */
  final class PinnedExtractor
      extends ShardingMessageExtractor<
          ShardingEnvelope<WorkerProtocol.Command>, WorkerProtocol.Command> {
    @Override
    public String entityId(ShardingEnvelope<WorkerProtocol.Command> e) {
      return e.entityId();
    }

    @Override
    public String shardId(String entityId) {
      return entityId;
    }

    @Override
    public WorkerProtocol.Command unwrapMessage(ShardingEnvelope<WorkerProtocol.Command> e) {
      return e.message();
    }
  }
}
