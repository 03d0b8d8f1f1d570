package dev.sluice.seed.alerting;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import dev.sluice.node.metrics.NodeSnapshot;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * The {@code sluice.alerting} section, read once and validated: a bad value fails start-up with a
 * message naming its key. Secrets (robot tokens, signing secrets, bearer tokens) are never in the
 * configuration itself: a notifier names the environment variables that hold them.
 */
public record AlertingSettings(
    boolean enabled,
    String role,
    Duration evaluationInterval,
    Duration repeatInterval,
    Duration staleAfter,
    List<AlertRule> rules,
    List<NotifierSettings> notifiers,
    Duration httpTimeout,
    int httpRetries,
    Duration httpRetryBackoff) {

  private static final Set<String> SIGNALS =
      Set.of(
          NodeSnapshot.NODE_CPU,
          NodeSnapshot.GPU_MEMORY,
          NodeSnapshot.PEER_RTT,
          NodeSnapshot.QUEUE_WAIT_P99,
          NodeSnapshot.UNREACHABLE_MEMBERS,
          NodeSnapshot.REFUSAL_RATIO);

  /**
   * One configured notifier whose address was found.
   *
   * @param name its key under {@code sluice.alerting.notifiers}
   * @param type {@code dingtalk}, {@code wecom}, {@code slack} or {@code webhook}
   * @param url the address to post to (may carry a token: treat as a secret)
   * @param secret the DingTalk signing secret or the webhook bearer token, or null
   */
  public record NotifierSettings(String name, String type, String url, String secret) {
    @Override
    public String toString() {
      return "NotifierSettings[" + name + ", " + type + "]"; // never log the url or secret
    }
  }

  /** Reads {@code sluice.alerting} with the process environment. */
  public static AlertingSettings fromConfig(Config root) {
    return fromConfig(root, System::getenv, new ArrayList<>());
  }

  /**
   * Reads {@code sluice.alerting}, looking environment variables up with {@code env}; notifiers
   * left off because their address variable is unset are described in {@code skipped}.
   */
  public static AlertingSettings fromConfig(
      Config root, Function<String, String> env, List<String> skipped) {
    String p = "sluice.alerting.";
    Config c = root.getConfig("sluice.alerting");
    Duration evaluation = positive(c, "evaluation-interval", p);
    Duration repeat = positive(c, "repeat-interval", p);
    Duration stale = positive(c, "stale-after", p);

    List<AlertRule> rules = new ArrayList<>();
    Config rc = c.getConfig("rules");
    for (String key : new TreeSet<>(rc.root().keySet())) {
      Config r = rc.getConfig(key);
      String rp = p + "rules." + key + ".";
      if (!r.getBoolean("enabled")) {
        continue;
      }
      String signal = r.getString("signal");
      if (!SIGNALS.contains(signal)) {
        throw new ConfigException.BadValue(
            rp + "signal", "'" + signal + "' is not one of " + new TreeSet<>(SIGNALS));
      }
      Duration forDuration = r.getDuration("for");
      if (forDuration.isNegative()) {
        throw new ConfigException.BadValue(rp + "for", "must not be negative");
      }
      String unit = r.getString("unit");
      if (!Set.of("ratio", "seconds", "count").contains(unit)) {
        throw new ConfigException.BadValue(rp + "unit", "must be 'ratio', 'seconds' or 'count'");
      }
      String severity = r.getString("severity");
      if (!Set.of("critical", "warning", "info").contains(severity)) {
        throw new ConfigException.BadValue(rp + "severity", "must be critical, warning or info");
      }
      rules.add(
          new AlertRule(
              key,
              r.getString("alert-name"),
              signal,
              r.getDouble("threshold"),
              forDuration,
              severity,
              unit,
              r.getString("summary"),
              r.getString("action")));
    }

    List<NotifierSettings> notifiers = new ArrayList<>();
    Config nc = c.getConfig("notifiers");
    for (String key : new TreeSet<>(nc.root().keySet())) {
      Config n = nc.getConfig(key);
      String np = p + "notifiers." + key + ".";
      String type = n.getString("type");
      if (!Set.of("dingtalk", "wecom", "slack", "webhook").contains(type)) {
        throw new ConfigException.BadValue(
            np + "type", "'" + type + "' is not one of dingtalk, wecom, slack, webhook");
      }
      String url = n.hasPath("url") ? n.getString("url") : null;
      if ((url == null || url.isEmpty()) && n.hasPath("url-env")) {
        url = env.apply(n.getString("url-env"));
      }
      if (url == null || url.isBlank()) {
        skipped.add(
            key
                + " ("
                + type
                + "): no address"
                + (n.hasPath("url-env") ? ", " + n.getString("url-env") + " is not set" : ""));
        continue;
      }
      try {
        URI u = URI.create(url.strip());
        if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme())) {
          throw new IllegalArgumentException("not http(s)");
        }
      } catch (IllegalArgumentException e) {
        // Do not echo the address: it usually carries the robot's token.
        throw new ConfigException.BadValue(
            np + (n.hasPath("url") ? "url" : "url-env"), "not an http(s) URL");
      }
      String secret = n.hasPath("secret-env") ? env.apply(n.getString("secret-env")) : null;
      notifiers.add(new NotifierSettings(key, type, url.strip(), secret));
    }

    int retries = c.getInt("http.retries");
    if (retries < 0 || retries > 10) {
      throw new ConfigException.BadValue(p + "http.retries", "must be 0..10");
    }
    return new AlertingSettings(
        c.getBoolean("enabled"),
        c.getString("role"),
        evaluation,
        repeat,
        stale,
        List.copyOf(rules),
        List.copyOf(notifiers),
        positive(c, "http.timeout", p),
        retries,
        positive(c, "http.retry-backoff", p));
  }

  private static Duration positive(Config c, String key, String prefix) {
    Duration d = c.getDuration(key);
    if (d.isZero() || d.isNegative()) {
      throw new ConfigException.BadValue(prefix + key, "must be positive, was " + d);
    }
    return d;
  }
}
