package dev.sluice.seed.alerting;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns an Alertmanager webhook message (version 4) into {@link Alert}s, so the seed nodes can
 * relay Prometheus alerts to the DingTalk and WeCom robots (which do not accept Alertmanager's
 * format) with the same notifiers, signing and retries as the built-in evaluator.
 *
 * <p>The alert's name, severity, instance and summary come from its labels and annotations ({@code
 * alertname}, {@code severity}, {@code instance}, {@code summary}, {@code description}); the
 * subject is its {@code device}, {@code peer} or {@code model} label. Plain Java.
 */
public final class AlertmanagerRelay {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Instant ZERO = Instant.parse("0001-01-01T00:00:00Z");

  private AlertmanagerRelay() {}

  /**
   * Parses one webhook message.
   *
   * @throws IllegalArgumentException when it is not Alertmanager's webhook JSON
   */
  public static List<Alert> parse(String body) {
    JsonNode root;
    try {
      root = JSON.readTree(body);
    } catch (IOException e) {
      throw new IllegalArgumentException("not JSON: " + e.getMessage());
    }
    if (root == null || !root.path("alerts").isArray()) {
      throw new IllegalArgumentException(
          "no \"alerts\" array: not an Alertmanager webhook message");
    }
    List<Alert> out = new ArrayList<>();
    for (JsonNode a : root.get("alerts")) {
      JsonNode labels = a.path("labels");
      JsonNode ann = a.path("annotations");
      String name = labels.path("alertname").asText("");
      if (name.isEmpty()) {
        throw new IllegalArgumentException("an alert without labels.alertname");
      }
      String severity = labels.path("severity").asText("warning");
      String summary = ann.path("summary").asText(name);
      // The summary is already rendered by Prometheus: no placeholders, so it passes unchanged.
      AlertRule rule =
          new AlertRule(
              name,
              name,
              "relayed",
              Double.NaN,
              Duration.ZERO,
              severity,
              "none",
              summary.replace("{", "(").replace("}", ")"),
              ann.path("description").asText(""));
      String subject = "";
      for (String key : List.of("device", "peer", "model")) {
        if (labels.hasNonNull(key)) {
          subject = labels.get(key).asText();
          break;
        }
      }
      boolean resolved = "resolved".equals(a.path("status").asText(root.path("status").asText()));
      Instant starts = time(a.path("startsAt").asText(""), Instant.now());
      Instant ends = resolved ? time(a.path("endsAt").asText(""), Instant.now()) : null;
      out.add(
          new Alert(
              rule,
              labels.path("instance").asText(""),
              subject,
              Double.NaN,
              resolved ? Alert.Status.RESOLVED : Alert.Status.FIRING,
              starts,
              ends,
              false));
    }
    return out;
  }

  private static Instant time(String text, Instant fallback) {
    try {
      Instant t = Instant.parse(text);
      return t.equals(ZERO) ? fallback : t;
    } catch (DateTimeParseException e) {
      return fallback;
    }
  }
}
