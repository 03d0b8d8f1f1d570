package dev.sluice.seed.alerting;

import java.time.Instant;

/**
 * One notification of the built-in evaluator: an alert firing (first time or a repeat) or resolved.
 *
 * @param rule the rule that fired
 * @param node the node it is about ({@code host:port})
 * @param subject the device, peer or model on that node, or empty
 * @param value the signal's value when the notification was made
 * @param status firing or resolved
 * @param startsAt when the alert fired
 * @param endsAt when it resolved, or null while firing
 * @param repeat whether this is a reminder of an alert already notified
 */
public record Alert(
    AlertRule rule,
    String node,
    String subject,
    double value,
    Status status,
    Instant startsAt,
    Instant endsAt,
    boolean repeat) {

  /** Whether the alert is active. */
  public enum Status {
    FIRING,
    RESOLVED;

    /** Lower-case, as Alertmanager spells it. */
    public String wire() {
      return this == FIRING ? "firing" : "resolved";
    }
  }

  /** Identity of the alert across notifications: rule, node and subject. */
  public String key() {
    return rule.alertName() + "|" + node + "|" + subject;
  }

  /** The rule's one-line summary for this alert. */
  public String summary() {
    return rule.render(node, subject, value);
  }
}
