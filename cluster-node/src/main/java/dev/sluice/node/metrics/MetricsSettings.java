package dev.sluice.node.metrics;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * The {@code sluice.metrics} section, read once and validated; a bad value fails start-up with a
 * message naming its key.
 *
 * @param jvm whether to export the JVM's own metrics (memory, GC, threads, process CPU seconds)
 * @param gpu whether to look for NVML and export GPU utilization and memory
 * @param pingInterval how often each node pings every peer
 * @param pingTimeout after how long an unanswered ping counts as a timeout
 * @param reportInterval how often the node publishes its {@link NodeSnapshot} for alerting
 * @param reportWindow the window over which rates and quantiles in a snapshot are computed
 * @param refusalMinRequests fewest requests in the window for a refusal ratio to be reported
 */
public record MetricsSettings(
    boolean jvm,
    boolean gpu,
    Duration pingInterval,
    Duration pingTimeout,
    Duration reportInterval,
    Duration reportWindow,
    long refusalMinRequests) {

  public MetricsSettings {
    positive(pingInterval, "sluice.metrics.ping.interval");
    positive(pingTimeout, "sluice.metrics.ping.timeout");
    positive(reportInterval, "sluice.metrics.report.interval");
    positive(reportWindow, "sluice.metrics.report.window");
    if (reportWindow.compareTo(reportInterval) < 0) {
      throw new IllegalArgumentException(
          "sluice.metrics.report.window ("
              + reportWindow
              + ") must be at least sluice.metrics.report.interval ("
              + reportInterval
              + ")");
    }
    if (refusalMinRequests < 1) {
      throw new IllegalArgumentException(
          "sluice.metrics.report.refusal-min-requests must be >= 1, was " + refusalMinRequests);
    }
  }

  /** Reads {@code sluice.metrics} from the node's configuration. */
  public static MetricsSettings fromConfig(Config root) {
    Config c = root.getConfig("sluice.metrics");
    return new MetricsSettings(
        c.getBoolean("jvm"),
        c.getBoolean("gpu"),
        c.getDuration("ping.interval"),
        c.getDuration("ping.timeout"),
        c.getDuration("report.interval"),
        c.getDuration("report.window"),
        c.getLong("report.refusal-min-requests"));
  }

  private static void positive(Duration d, String key) {
    if (d.isZero() || d.isNegative()) {
      throw new IllegalArgumentException(key + " must be positive, was " + d);
    }
  }
}
