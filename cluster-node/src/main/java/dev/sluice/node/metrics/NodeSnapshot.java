package dev.sluice.node.metrics;

import java.util.List;

/**
 * What one node tells the alert evaluator every {@code sluice.metrics.report.interval}: the signals
 * the alert rules compare with their thresholds, already reduced on the node (ratios, rates and
 * quantiles over {@code sluice.metrics.report.window}), so the evaluator needs no time series.
 *
 * <p>Published on the cluster topic {@link #TOPIC}; crosses the network through the cluster's Kryo
 * serializer (registered in cluster-node's {@code reference.conf}).
 *
 * @param node the reporting node's address, {@code host:port}
 * @param atEpochMillis when the snapshot was taken
 * @param signals the node's current signals
 */
public record NodeSnapshot(String node, long atEpochMillis, List<Signal> signals) {

  /** The pub-sub topic nodes publish their snapshots on. */
  public static final String TOPIC = "sluice-node-metrics";

  /** Node CPU usage ratio (0..1); subject empty. */
  public static final String NODE_CPU = "node-cpu";

  /** GPU memory used / total (0..1); subject is the device index. */
  public static final String GPU_MEMORY = "gpu-memory";

  /** Latest round trip to a peer in seconds; subject is the peer's {@code host:port}. */
  public static final String PEER_RTT = "peer-rtt";

  /** 99th percentile of queue wait over the window in seconds; subject is the model. */
  public static final String QUEUE_WAIT_P99 = "queue-wait-p99";

  /** Cluster members this node sees unreachable; subject empty. */
  public static final String UNREACHABLE_MEMBERS = "unreachable-members";

  /** Refused / answered requests over the window (0..1); subject empty. */
  public static final String REFUSAL_RATIO = "refusal-ratio";

  public NodeSnapshot {
    signals = List.copyOf(signals);
  }

  /**
   * One measured value.
   *
   * @param name what it measures (one of the constants of {@link NodeSnapshot})
   * @param subject which thing on the node it is about (device, peer, model), or empty
   * @param value the value, in the unit its name documents
   */
  public record Signal(String name, String subject, double value) {}
}
