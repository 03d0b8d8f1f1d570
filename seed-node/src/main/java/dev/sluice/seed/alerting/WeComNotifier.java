package dev.sluice.seed.alerting;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * WeCom (企业微信) group robot: {@code POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...}
 * with {@code {"msgtype":"markdown","markdown":{"content":...}}}. The content is limited to 4096
 * bytes of UTF-8, so longer text is cut at a character boundary. The robot answers {@code
 * {"errcode":0,"errmsg":"ok"}}; errcode 45009 (over the rate limit) is retried.
 */
final class WeComNotifier implements Notifier {

  private static final ObjectMapper JSON = new ObjectMapper();
  static final int MAX_CONTENT_BYTES = 4096;

  private final String name;
  private final URI url;
  private final WebhookPoster poster;

  WeComNotifier(String name, String url, WebhookPoster poster) {
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
        "WeCom notifier '" + name + "'",
        () -> url,
        Map.of(),
        payload(alert),
        (status, body) -> DingTalkNotifier.errcodeCheck(status, body, 45009));
  }

  static String payload(Alert alert) {
    ObjectNode root = JSON.createObjectNode();
    root.put("msgtype", "markdown");
    root.putObject("markdown").put("content", truncate(AlertText.markdown(alert)));
    return root.toString();
  }

  static String truncate(String s) {
    if (s.getBytes(StandardCharsets.UTF_8).length <= MAX_CONTENT_BYTES) {
      return s;
    }
    StringBuilder sb = new StringBuilder();
    int bytes = 0;
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      int n = new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8).length;
      if (bytes + n > MAX_CONTENT_BYTES - 3) {
        break;
      }
      sb.appendCodePoint(cp);
      bytes += n;
      i += Character.charCount(cp);
    }
    return sb.append("...").toString();
  }
}
