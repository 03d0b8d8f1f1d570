package dev.sluice.seed.alerting;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/** The human-readable text of a notification, in the markdown dialects of the chat services. */
final class AlertText {

  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss 'UTC'").withZone(ZoneOffset.UTC);

  private AlertText() {}

  /** A one-line title: {@code [FIRING] SluiceNodeCpuHigh on 10.0.0.5:25520}. */
  static String title(Alert a) {
    return "["
        + a.status().name()
        + (a.repeat() ? ", repeat" : "")
        + "] "
        + a.rule().alertName()
        + " on "
        + a.node();
  }

  /** Markdown as DingTalk and WeCom render it (headings, bold, quotes; blank-line paragraphs). */
  static String markdown(Alert a) {
    StringBuilder sb = new StringBuilder();
    sb.append("### ").append(title(a)).append("\n\n");
    sb.append("**").append(wasIfResolved(a)).append(a.summary()).append("**\n\n");
    sb.append("- severity: ").append(a.rule().severity()).append('\n');
    if (!a.node().isEmpty()) {
      sb.append("- node: ").append(a.node()).append('\n');
    }
    if (!a.subject().isEmpty()) {
      sb.append("- subject: ").append(a.subject()).append('\n');
    }
    if (!Double.isNaN(a.value())) { // relayed alerts carry no value of their own
      sb.append("- value: ")
          .append(a.rule().format(a.value()))
          .append(" (threshold ")
          .append(a.rule().format(a.rule().threshold()))
          .append(")\n");
    }
    sb.append("- since: ").append(time(a.startsAt())).append('\n');
    if (a.endsAt() != null) {
      sb.append("- resolved: ").append(time(a.endsAt())).append('\n');
    } else if (!a.rule().action().isEmpty()) {
      sb.append("\n> ").append(a.rule().action()).append('\n');
    }
    return sb.toString();
  }

  /** Slack mrkdwn: {@code *bold*}, bullet lines, block quote. */
  static String slack(Alert a) {
    StringBuilder sb = new StringBuilder();
    sb.append('*').append(title(a)).append("*\n");
    sb.append(wasIfResolved(a)).append(a.summary()).append('\n');
    sb.append("• severity: ").append(a.rule().severity()).append('\n');
    if (!a.subject().isEmpty()) {
      sb.append("• subject: ").append(a.subject()).append('\n');
    }
    if (!Double.isNaN(a.value())) { // relayed alerts carry no value of their own
      sb.append("• value: ")
          .append(a.rule().format(a.value()))
          .append(" (threshold ")
          .append(a.rule().format(a.rule().threshold()))
          .append(")\n");
    }
    sb.append("• since: ").append(time(a.startsAt()));
    if (a.endsAt() != null) {
      sb.append("\n• resolved: ").append(time(a.endsAt()));
    } else if (!a.rule().action().isEmpty()) {
      sb.append("\n> ").append(a.rule().action());
    }
    return sb.toString();
  }

  // A resolved message repeats the summary of the firing one, marked as the past condition.
  private static String wasIfResolved(Alert a) {
    return a.status() == Alert.Status.RESOLVED ? "Was: " : "";
  }

  static String time(Instant t) {
    return TIME.format(t);
  }
}
