package dev.sluice.seed.alerting;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.util.Map;

/**
 * Slack incoming webhook: {@code POST https://hooks.slack.com/services/...} with {@code {"text":
 * ...}} in Slack's mrkdwn. Slack answers HTTP 200 {@code ok}; 429 and 5xx are retried, other
 * statuses ({@code invalid_payload}, {@code no_service}) are not.
 */
final class SlackNotifier implements Notifier {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final String name;
  private final URI url;
  private final WebhookPoster poster;

  SlackNotifier(String name, String url, WebhookPoster poster) {
    this.name = name;
    this.url = URI.create(url);
    this.poster = poster;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public void send(Alert alert) throws NotifyException {
    poster.post(
        "Slack notifier '" + name + "'",
        () -> url,
        Map.of(),
        payload(alert),
        WebhookPoster.ANY_2XX);
  }

  static String payload(Alert alert) {
    ObjectNode root = JSON.createObjectNode();
    root.put("text", AlertText.slack(alert));
    return root.toString();
  }
}
