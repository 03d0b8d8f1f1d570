package dev.sluice.node.worker;

import dev.sluice.engine.cpu.NativeKernels;
import dev.sluice.node.Readiness;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.external.ExternalShardAllocation;
import org.apache.pekko.cluster.sharding.external.javadsl.ExternalShardAllocationClient;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.javadsl.StartEntity;
import org.apache.pekko.cluster.typed.Cluster;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The worker role of a node: discovers the node's devices, starts Cluster Sharding of the {@link
 * GpuWorker}s, pins each device's shard to this node (external shard allocation) and starts its
 * worker at once, so the model loads before the first request. Called by both jars' {@code main}
 * when the node has the {@value GpuWorker#ROLE} role.
 *
 * <p>Failure semantics: a pinning that fails is logged and retried by starting the entity anyway;
 * the allocation strategy then places an unknown shard on the requesting node, which is this one.
 */
public final class WorkerNode {
  private static final Logger log = LoggerFactory.getLogger(WorkerNode.class);

  private WorkerNode() {}

  /** Discovers this node's devices and starts their workers; returns their entity ids. */
  public static List<String> start(ActorSystem<?> system, WorkerSettings settings) {
    return start(system, settings, DeviceDiscovery.discover(settings));
  }

  /**
   * Starts one worker per device of {@code devices} (from {@link DeviceDiscovery#discover}, called
   * before the actor system starts so that a missing device stops start-up); returns their ids.
   */
  public static List<String> start(
      ActorSystem<?> system, WorkerSettings settings, List<Device> devices) {
    ActorRef<ShardingEnvelope<WorkerProtocol.Command>> region = GpuWorker.init(system, settings);
    Address self = Cluster.get(system).selfMember().address();
    String host = self.getHost().orElse("local");
    int port = self.getPort().orElse(0);
    ExternalShardAllocationClient client =
        ExternalShardAllocation.get(system).getClient(GpuWorker.TYPE_KEY.name());
    List<String> ids = new ArrayList<>();
    for (Device d : devices) {
      String id = GpuWorker.entityId(host, port, d);
      ids.add(id);
      // Declared before the entity exists, so /ready never says yes before the model is loaded.
      Readiness.get(system).require(GpuWorker.readinessCondition(id));
      client
          .setShardLocation(id, self)
          .whenComplete(
              (done, e) -> {
                if (e != null) {
                  log.warn("Could not pin worker {} to {}: {}", id, self, e.toString());
                }
                region.tell(StartEntity.create(WorkerProtocol.Command.class, id));
              });
    }
    log.info(
        "Worker role: devices {} (model {}); CPU native kernels {}",
        ids,
        settings.model(),
        NativeKernels.status());
    return ids;
  }
}
