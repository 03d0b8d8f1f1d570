package dev.sluice.seed.alerting;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.util.Map;

/**
 * Generic JSON webhook in Alertmanager's webhook format (version 4), so any receiver written for
 * Alertmanager (incident tools, the DingTalk/WeCom bridges, a team's own relay) takes Sluice's
 * built-in alerts unchanged. One alert per message; {@code groupKey} is the alert's identity. An
 * optional bearer token (from an environment variable) goes in {@code Authorization}.
 */
final class JsonWebhookNotifier implements Notifier {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Alertmanager's "zero" time for an alert that has not ended. */
  static final String ZERO_TIME = "0001-01-01T00:00:00Z";

  private final String name;
  private final URI url;
  private final Map<String, String> headers;
  private final WebhookPoster poster;

  JsonWebhookNotifier(String name, String url, String bearerToken, WebhookPoster poster) {
    this.name = name;
    this.url = URI.create(url);
    this.headers =
        bearerToken == null || bearerToken.isEmpty()
            ? Map.of()
            : Map.of("Authorization", "Bearer " + bearerToken);
    this.poster = poster;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public void send(Alert alert) throws NotifyException {
    poster.post(
        "Webhook notifier '" + name + "'",
        () -> url,
        headers,
        payload(alert),
        WebhookPoster.ANY_2XX);
  }

  static String payload(Alert a) {
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "4");
    root.put("groupKey", a.key());
    root.put("truncatedAlerts", 0);
    root.put("status", a.status().wire());
    root.put("receiver", "sluice");
    root.putObject("groupLabels").put("alertname", a.rule().alertName());
    labels(root.putObject("commonLabels"), a);
    annotations(root.putObject("commonAnnotations"), a);
    root.put("externalURL", "");
    ObjectNode alert = root.putArray("alerts").addObject();
    alert.put("status", a.status().wire());
    labels(alert.putObject("labels"), a);
    annotations(alert.putObject("annotations"), a);
    alert.put("startsAt", a.startsAt().toString());
    alert.put("endsAt", a.endsAt() == null ? ZERO_TIME : a.endsAt().toString());
    alert.put("generatorURL", "");
    alert.put("fingerprint", Integer.toHexString(a.key().hashCode()));
    return root.toString();
  }

  private static void labels(ObjectNode n, Alert a) {
    n.put("alertname", a.rule().alertName());
    n.put("severity", a.rule().severity());
    n.put("node", a.node());
    if (!a.subject().isEmpty()) {
      n.put("subject", a.subject());
    }
  }

  private static void annotations(ObjectNode n, Alert a) {
    n.put("summary", a.summary());
    n.put("description", a.rule().action());
    n.put("value", a.rule().format(a.value()));
  }
}
