package dev.sluice.seed.alerting;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Clock;
import java.util.Base64;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * DingTalk (钉钉) custom robot: {@code POST https://oapi.dingtalk.com/robot/send?access_token=...}
 * with a {@code markdown} message. With a signing secret (the robot's "加签" security setting) each
 * request carries {@code &timestamp=<ms>&sign=<s>}, where {@code s} is the URL-encoded Base64 of
 * HmacSHA256 over {@code timestamp + "\n" + secret} keyed by the secret. The robot answers HTTP 200
 * with {@code {"errcode":0,"errmsg":"ok"}}; a non-zero errcode is a rejection (130101, sending too
 * fast, is retried).
 */
final class DingTalkNotifier implements Notifier {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final String name;
  private final String url;
  private final String secret;
  private final Clock clock;
  private final WebhookPoster poster;

  /**
   * @param url the robot's webhook address including {@code access_token}
   * @param secret the signing secret ({@code SEC...}), or null for a robot without signing
   */
  DingTalkNotifier(String name, String url, String secret, Clock clock, WebhookPoster poster) {
    this.name = name;
    this.url = url;
    this.secret = secret;
    this.clock = clock;
    this.poster = poster;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public void send(Alert alert) throws NotifyException {
    poster.post(
        "DingTalk notifier '" + name + "'",
        this::signedUri,
        Map.of(),
        payload(alert),
        DingTalkNotifier::check);
  }

  static String payload(Alert alert) {
    ObjectNode root = JSON.createObjectNode();
    root.put("msgtype", "markdown");
    ObjectNode md = root.putObject("markdown");
    md.put("title", AlertText.title(alert));
    md.put("text", AlertText.markdown(alert));
    return root.toString();
  }

  private URI signedUri() {
    if (secret == null || secret.isEmpty()) {
      return URI.create(url);
    }
    long timestamp = clock.millis();
    return URI.create(
        url
            + (url.contains("?") ? "&" : "?")
            + "timestamp="
            + timestamp
            + "&sign="
            + sign(timestamp, secret));
  }

  /** DingTalk's signature of {@code timestamp}, URL-encoded, ready for the query string. */
  static String sign(long timestamp, String secret) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      byte[] h = mac.doFinal((timestamp + "\n" + secret).getBytes(StandardCharsets.UTF_8));
      return URLEncoder.encode(Base64.getEncoder().encodeToString(h), StandardCharsets.UTF_8);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 unavailable", e);
    }
  }

  static WebhookPoster.Rejection check(int status, String body) {
    return errcodeCheck(status, body, 130101);
  }

  /** DingTalk and WeCom: HTTP 2xx and {@code errcode == 0}; {@code throttled} is retryable. */
  static WebhookPoster.Rejection errcodeCheck(int status, String body, int throttled) {
    WebhookPoster.Rejection http = WebhookPoster.ANY_2XX.check(status, body);
    if (http != null) {
      return http;
    }
    try {
      JsonNode n = JSON.readTree(body);
      int errcode = n.path("errcode").asInt(-1);
      if (errcode == 0) {
        return null;
      }
      return new WebhookPoster.Rejection(
          "errcode " + errcode + ": " + n.path("errmsg").asText(""), errcode == throttled);
    } catch (Exception e) {
      return new WebhookPoster.Rejection(
          "unreadable answer: " + WebhookPoster.abbreviate(body), false);
    }
  }
}
