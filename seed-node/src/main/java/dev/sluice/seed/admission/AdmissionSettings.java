package dev.sluice.seed.admission;

import com.typesafe.config.Config;
import dev.sluice.node.config.Settings;
import dev.sluice.node.config.SettingsException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code sluice.admission} section, read once and validated (a bad value fails start-up with
 * the key's name).
 *
 * @param defaultDeadlineMs deadline of a request without {@code X-Sluice-Deadline-Ms}
 * @param minDeadlineMs smallest deadline a client may ask for
 * @param maxDeadlineMs largest deadline a client may ask for
 * @param maxQueueDelayMs the longest predicted wait before a request starts (its place in the
 *     prefill queue and the decode-slot turnovers ahead of it, at the worker's measured rates) for
 *     {@code critical} requests, scaled by the priority share for the others (0 = no cap beyond the
 *     deadline); bounds the backlog an overload leaves, hence how soon latency recovers
 * @param deadlineHeadroom the fraction of a deadline a predicted completion may use (the rest
 *     absorbs prediction error and the gateway's own latency)
 * @param maxQueuedTokensPerWorker the bound on outstanding tokens (prefill + decode) per worker
 * @param fallbackPrefillRate tokens/s assumed before a worker reports a measured prefill rate
 * @param fallbackDecodeRate tokens/s assumed before a worker reports a measured decode rate
 * @param noWorkerRetryAfterSeconds Retry-After when no worker serves the model
 * @param maxRetryAfterSeconds the largest Retry-After ever sent
 * @param tenants policies by tenant name; {@code default} applies to requests without a key
 */
public record AdmissionSettings(
    long defaultDeadlineMs,
    long minDeadlineMs,
    long maxDeadlineMs,
    double deadlineHeadroom,
    long maxQueuedTokensPerWorker,
    double fallbackPrefillRate,
    double fallbackDecodeRate,
    int noWorkerRetryAfterSeconds,
    int maxRetryAfterSeconds,
    long maxQueueDelayMs,
    Map<String, TenantPolicy> tenants) {

  public static final String DEFAULT_TENANT = "default";

  public static AdmissionSettings fromConfig(Config c) {
    String k = "sluice.admission.";
    Duration ms = Duration.ofMillis(1);
    Duration hour = Duration.ofHours(1);
    long def = Settings.duration(c, k + "default-deadline", ms, hour).toMillis();
    long min = Settings.duration(c, k + "min-deadline", ms, hour).toMillis();
    long max = Settings.duration(c, k + "max-deadline", ms, hour).toMillis();
    if (!(min <= def && def <= max)) {
      throw new SettingsException(
          k + "default-deadline",
          "need min-deadline <= default-deadline <= max-deadline, got "
              + min
              + " <= "
              + def
              + " <= "
              + max
              + " ms");
    }
    double headroom = positive(c, k + "deadline-headroom");
    if (headroom > 1) {
      throw new SettingsException(k + "deadline-headroom", "must be in (0, 1], got " + headroom);
    }
    long queued = Settings.integer(c, k + "max-queued-tokens-per-worker", 1, Integer.MAX_VALUE);
    double pre = positive(c, k + "fallback-prefill-tokens-per-second");
    double dec = positive(c, k + "fallback-decode-tokens-per-second");
    int noWorker =
        (int)
            Settings.duration(c, k + "no-worker-retry-after", Duration.ofSeconds(1), hour)
                .toSeconds();
    int maxRa =
        (int) Settings.duration(c, k + "max-retry-after", Duration.ofSeconds(1), hour).toSeconds();
    Map<String, TenantPolicy> tenants = new LinkedHashMap<>();
    Config tc = c.getConfig("sluice.admission.tenants");
    for (String name : tc.root().keySet()) {
      String key = k + "tenants." + name;
      String pk = key + ".priority";
      Priority p;
      try {
        p = Priority.parse(Settings.string(c, pk));
      } catch (IllegalArgumentException e) {
        throw new SettingsException(pk, "must be critical, standard or sheddable");
      }
      double rate =
          c.hasPath(key + ".tokens-per-second") ? c.getDouble(key + ".tokens-per-second") : 0;
      double burst = c.hasPath(key + ".burst-tokens") ? c.getDouble(key + ".burst-tokens") : rate;
      if (rate < 0 || (rate > 0 && burst < 1)) {
        throw new SettingsException(
            key, "tokens-per-second must be >= 0 (0 = unlimited) and burst-tokens >= 1");
      }
      tenants.put(name, new TenantPolicy(name, p, rate, burst));
    }
    tenants.putIfAbsent(DEFAULT_TENANT, new TenantPolicy(DEFAULT_TENANT, Priority.STANDARD, 0, 0));
    long maxQueueDelay =
        Settings.duration(c, k + "max-queue-delay", Duration.ZERO, hour).toMillis();
    return new AdmissionSettings(
        def,
        min,
        max,
        headroom,
        queued,
        pre,
        dec,
        noWorker,
        maxRa,
        maxQueueDelay,
        Map.copyOf(tenants));
  }

  private static double positive(Config c, String key) {
    double v;
    try {
      v = c.getDouble(key);
    } catch (com.typesafe.config.ConfigException e) {
      throw new SettingsException(key, "bad value: " + e.getMessage(), e);
    }
    if (!(v > 0)) {
      throw new SettingsException(key, "must be > 0, got " + v);
    }
    return v;
  }
}
