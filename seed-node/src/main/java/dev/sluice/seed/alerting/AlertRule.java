package dev.sluice.seed.alerting;

import java.time.Duration;
import java.util.Locale;

/**
 * One rule of the built-in evaluator: the alert is active while a node's {@code signal} stays above
 * {@code threshold} for {@code forDuration}.
 *
 * @param key the rule's key under {@code sluice.alerting.rules}
 * @param alertName the alert's name, the same as the Prometheus rule's {@code alert:} in {@code
 *     deploy/prometheus/rules}, so both paths page with one name
 * @param signal which {@link dev.sluice.node.metrics.NodeSnapshot} signal it watches
 * @param threshold the value the signal must exceed
 * @param forDuration how long it must stay above before the alert fires
 * @param severity {@code critical}, {@code warning} or {@code info}
 * @param unit how values are shown: {@code ratio} (as a percentage), {@code seconds} or {@code
 *     count}
 * @param summary one line, with placeholders {@code {node}}, {@code {subject}}, {@code {value}},
 *     {@code {threshold}}
 * @param action what the operator should do, shown under the summary
 */
public record AlertRule(
    String key,
    String alertName,
    String signal,
    double threshold,
    Duration forDuration,
    String severity,
    String unit,
    String summary,
    String action) {

  /** The summary with its placeholders filled in. */
  public String render(String node, String subject, double value) {
    return summary
        .replace("{node}", node)
        .replace("{subject}", subject)
        .replace("{value}", format(value))
        .replace("{threshold}", format(threshold));
  }

  /** A value in this rule's unit, as an operator reads it. */
  public String format(double value) {
    return switch (unit) {
      case "ratio" -> String.format(Locale.ROOT, "%.1f%%", value * 100);
      case "seconds" ->
          value < 1
              ? String.format(Locale.ROOT, "%.0f ms", value * 1000)
              : String.format(Locale.ROOT, "%.2f s", value);
      case "count" -> String.format(Locale.ROOT, "%.0f", value);
      default -> String.format(Locale.ROOT, "%.4g", value);
    };
  }
}
