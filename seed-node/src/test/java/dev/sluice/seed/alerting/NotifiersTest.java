package dev.sluice.seed.alerting;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.node.metrics.NodeSnapshot;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;

/** Each notifier against a local receiver: the exact payload, headers, signature, retries. */
class NotifiersTest {

  static final ObjectMapper JSON = new ObjectMapper();
  static final AlertRule GPU =
      new AlertRule(
          "gpu-memory-high",
          "SluiceGpuMemoryHigh",
          NodeSnapshot.GPU_MEMORY,
          0.90,
          Duration.ofMinutes(1),
          "warning",
          "ratio",
          "GPU {subject} on {node}: memory {value} used (above {threshold})",
          "Check nvidia-smi.");
  static final Instant START = Instant.parse("2026-03-01T08:00:00Z");
  static final Alert FIRING =
      new Alert(GPU, "10.0.0.5:25520", "0", 0.953, Alert.Status.FIRING, START, null, false);
  static final Alert RESOLVED =
      new Alert(
          GPU,
          "10.0.0.5:25520",
          "0",
          0.41,
          Alert.Status.RESOLVED,
          START,
          START.plusSeconds(600),
          false);
  static final String OK = "{\"errcode\":0,\"errmsg\":\"ok\"}";

  static WebhookPoster poster(int retries, Duration timeout) {
    return new WebhookPoster(HttpClient.newHttpClient(), timeout, retries, Duration.ofMillis(10));
  }

  static Map<String, String> query(String rawQuery) {
    Map<String, String> m = new HashMap<>();
    for (String kv : rawQuery.split("&")) {
      int i = kv.indexOf('=');
      m.put(kv.substring(0, i), kv.substring(i + 1));
    }
    return m;
  }

  @Test
  void dingTalkSignedMarkdown() throws Exception {
    String secret = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";
    long now = 1772352000123L;
    try (Receiver r = new Receiver(200, OK)) {
      Notifier n =
          new DingTalkNotifier(
              "dingtalk",
              r.url("/robot/send?access_token=tok123"),
              secret,
              Clock.fixed(Instant.ofEpochMilli(now), ZoneOffset.UTC),
              poster(0, Duration.ofSeconds(5)));
      n.send(FIRING);
      Receiver.Request req = r.next(Duration.ofSeconds(5));
      assertThat(req.method()).isEqualTo("POST");
      assertThat(req.uri().getPath()).isEqualTo("/robot/send");
      assertThat(req.contentType()).startsWith("application/json");
      Map<String, String> q = query(req.uri().getRawQuery());
      assertThat(q).containsEntry("access_token", "tok123").containsEntry("timestamp", "" + now);
      // Recompute DingTalk's documented signature independently.
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      String expected =
          Base64.getEncoder()
              .encodeToString(mac.doFinal((now + "\n" + secret).getBytes(StandardCharsets.UTF_8)));
      assertThat(URLDecoder.decode(q.get("sign"), StandardCharsets.UTF_8)).isEqualTo(expected);
      // Base64 '+', '/', '=' must arrive percent-encoded, or DingTalk rejects the signature.
      assertThat(q.get("sign")).doesNotContain("+", "/", "=");

      JsonNode body = JSON.readTree(req.body());
      assertThat(body.fieldNames()).toIterable().containsExactlyInAnyOrder("msgtype", "markdown");
      assertThat(body.get("msgtype").asText()).isEqualTo("markdown");
      assertThat(body.at("/markdown/title").asText())
          .isEqualTo("[FIRING] SluiceGpuMemoryHigh on 10.0.0.5:25520");
      assertThat(body.at("/markdown/text").asText())
          .isEqualTo(
              """
              ### [FIRING] SluiceGpuMemoryHigh on 10.0.0.5:25520

              **GPU 0 on 10.0.0.5:25520: memory 95.3% used (above 90.0%)**

              - severity: warning
              - node: 10.0.0.5:25520
              - subject: 0
              - value: 95.3% (threshold 90.0%)
              - since: 2026-03-01 08:00:00 UTC

              > Check nvidia-smi.
              """);
    }
  }

  @Test
  void dingTalkUnsignedAndThrottledIsRetried() throws Exception {
    try (Receiver r = new Receiver(200, OK)) {
      r.then(200, "{\"errcode\":130101,\"errmsg\":\"send too fast\"}", Duration.ZERO);
      Notifier n =
          new DingTalkNotifier(
              "d",
              r.url("/robot/send?access_token=t"),
              null,
              Clock.systemUTC(),
              poster(2, Duration.ofSeconds(5)));
      n.send(RESOLVED);
      Receiver.Request first = r.next(Duration.ofSeconds(5));
      Receiver.Request second = r.next(Duration.ofSeconds(5));
      assertThat(first.uri().getRawQuery()).isEqualTo("access_token=t");
      assertThat(second.body()).isEqualTo(first.body());
      assertThat(JSON.readTree(second.body()).at("/markdown/text").asText())
          .contains("### [RESOLVED] SluiceGpuMemoryHigh")
          .contains("- resolved: 2026-03-01 08:10:00 UTC");
    }
  }

  @Test
  void dingTalkRejectionIsNotRetriedAndReported() throws Exception {
    try (Receiver r = new Receiver(200, "{\"errcode\":310000,\"errmsg\":\"sign not match\"}")) {
      Notifier n =
          new DingTalkNotifier(
              "d",
              r.url("/robot/send?access_token=t"),
              "SECx",
              Clock.systemUTC(),
              poster(3, Duration.ofSeconds(5)));
      assertThatThrownBy(() -> n.send(FIRING))
          .isInstanceOf(Notifier.NotifyException.class)
          .hasMessageContaining("errcode 310000: sign not match");
      r.next(Duration.ofSeconds(5));
      assertThat(r.next(Duration.ofMillis(300))).isNull();
    }
  }

  @Test
  void weComMarkdown() throws Exception {
    try (Receiver r = new Receiver(200, OK)) {
      new WeComNotifier(
              "wecom", r.url("/cgi-bin/webhook/send?key=k-1"), poster(0, Duration.ofSeconds(5)))
          .send(FIRING);
      Receiver.Request req = r.next(Duration.ofSeconds(5));
      assertThat(req.uri().getRawQuery()).isEqualTo("key=k-1");
      JsonNode body = JSON.readTree(req.body());
      assertThat(body.fieldNames()).toIterable().containsExactlyInAnyOrder("msgtype", "markdown");
      assertThat(body.get("msgtype").asText()).isEqualTo("markdown");
      assertThat(body.get("markdown").fieldNames()).toIterable().containsExactly("content");
      assertThat(body.at("/markdown/content").asText())
          .startsWith("### [FIRING] SluiceGpuMemoryHigh on 10.0.0.5:25520\n\n**GPU 0 on");
    }
  }

  @Test
  void weComContentIsCutAt4096Utf8Bytes() {
    String longText = "告警".repeat(3000);
    String cut = WeComNotifier.truncate(longText);
    assertThat(cut.getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(4096);
    assertThat(cut).endsWith("...").startsWith("告警告警");
  }

  @Test
  void slackText() throws Exception {
    try (Receiver r = new Receiver(200, "ok")) {
      new SlackNotifier("slack", r.url("/services/T0/B0/x"), poster(0, Duration.ofSeconds(5)))
          .send(FIRING);
      JsonNode body = JSON.readTree(r.next(Duration.ofSeconds(5)).body());
      assertThat(body.fieldNames()).toIterable().containsExactly("text");
      assertThat(body.get("text").asText())
          .isEqualTo(
              """
              *[FIRING] SluiceGpuMemoryHigh on 10.0.0.5:25520*
              GPU 0 on 10.0.0.5:25520: memory 95.3% used (above 90.0%)
              • severity: warning
              • subject: 0
              • value: 95.3% (threshold 90.0%)
              • since: 2026-03-01 08:00:00 UTC
              > Check nvidia-smi.""");
    }
  }

  @Test
  void genericWebhookIsAlertmanagerShapedWithBearerToken() throws Exception {
    try (Receiver r = new Receiver(200, "")) {
      Notifier n =
          new JsonWebhookNotifier(
              "webhook", r.url("/hook"), "s3cret", poster(0, Duration.ofSeconds(5)));
      n.send(FIRING);
      n.send(RESOLVED);
      Receiver.Request f = r.next(Duration.ofSeconds(5));
      assertThat(f.authorization()).isEqualTo("Bearer s3cret");
      JsonNode fb = JSON.readTree(f.body());
      assertThat(fb.get("version").asText()).isEqualTo("4");
      assertThat(fb.get("status").asText()).isEqualTo("firing");
      JsonNode a = fb.at("/alerts/0");
      assertThat(a.at("/labels/alertname").asText()).isEqualTo("SluiceGpuMemoryHigh");
      assertThat(a.at("/labels/node").asText()).isEqualTo("10.0.0.5:25520");
      assertThat(a.at("/labels/subject").asText()).isEqualTo("0");
      assertThat(a.at("/labels/severity").asText()).isEqualTo("warning");
      assertThat(a.at("/annotations/summary").asText())
          .isEqualTo("GPU 0 on 10.0.0.5:25520: memory 95.3% used (above 90.0%)");
      assertThat(a.get("startsAt").asText()).isEqualTo("2026-03-01T08:00:00Z");
      assertThat(a.get("endsAt").asText()).isEqualTo("0001-01-01T00:00:00Z");
      JsonNode rb = JSON.readTree(r.next(Duration.ofSeconds(5)).body());
      assertThat(rb.get("status").asText()).isEqualTo("resolved");
      assertThat(rb.at("/alerts/0/endsAt").asText()).isEqualTo("2026-03-01T08:10:00Z");
      assertThat(rb.get("groupKey").asText()).isEqualTo(fb.get("groupKey").asText());
    }
  }

  @Test
  void serverErrorsAndTimeoutsAreRetriedThenReported() throws Exception {
    try (Receiver r = new Receiver(200, "ok")) {
      r.then(503, "busy", Duration.ZERO).then(200, "ok", Duration.ofSeconds(3));
      // 503, then a timeout (answer after 3 s, timeout 500 ms), then success.
      new SlackNotifier("slack", r.url("/s"), poster(2, Duration.ofMillis(500))).send(FIRING);
      assertThat(r.next(Duration.ofSeconds(5))).isNotNull();
      assertThat(r.next(Duration.ofSeconds(5))).isNotNull();
      assertThat(r.next(Duration.ofSeconds(5))).isNotNull();
    }
    try (Receiver r = new Receiver(500, "down")) {
      assertThatThrownBy(
              () ->
                  new SlackNotifier("slack", r.url("/s"), poster(2, Duration.ofSeconds(5)))
                      .send(FIRING))
          .isInstanceOf(Notifier.NotifyException.class)
          .hasMessageContaining("HTTP 500: down");
      for (int i = 0; i < 3; i++) {
        assertThat(r.next(Duration.ofSeconds(5))).as("attempt %d", i + 1).isNotNull();
      }
      assertThat(r.next(Duration.ofMillis(200))).isNull();
    }
    try (Receiver r = new Receiver(400, "invalid_payload")) {
      assertThatThrownBy(
              () ->
                  new SlackNotifier("slack", r.url("/s"), poster(3, Duration.ofSeconds(5)))
                      .send(FIRING))
          .hasMessageContaining("HTTP 400: invalid_payload");
      r.next(Duration.ofSeconds(5));
      assertThat(r.next(Duration.ofMillis(200))).as("a 4xx is not retried").isNull();
    }
  }
}
