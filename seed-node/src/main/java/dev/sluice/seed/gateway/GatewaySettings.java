package dev.sluice.seed.gateway;

import com.typesafe.config.Config;
import dev.sluice.node.config.NodeSettings;
import dev.sluice.node.config.Settings;
import dev.sluice.node.config.SettingsException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code sluice.gateway} section: where the OpenAI-compatible HTTP API listens on nodes with
 * the {@code gateway} role, its request limits, API keys and routing.
 *
 * @param host address the HTTP API binds to
 * @param port its port
 * @param sseKeepAlive how often a quiet SSE stream gets a keep-alive comment
 * @param maxBodyBytes largest request body (413 beyond)
 * @param maxTokens largest {@code max_tokens} (422 beyond)
 * @param defaultMaxTokens {@code max_tokens} when a request gives none
 * @param maxPromptTokens largest estimated prompt (422 {@code context_length_exceeded} beyond)
 * @param initialCredit chunks a worker may send before the gateway acknowledges
 * @param wholeChunkInterval for non-streamed requests, how often the worker sends what it has
 *     generated (merged into one chunk); zero: every chunk as it is ready, as for streams
 * @param acceptTimeout how long a worker may take to answer {@code Generate}
 * @param silenceTimeout how long a worker that owes chunks may stay silent before it counts as dead
 * @param staleAfter a worker whose last load report is older is not routed to
 * @param authEnabled whether requests need {@code Authorization: Bearer KEY}
 * @param apiKeys API key to tenant name
 * @param affinityBlockChars characters per prompt block for prefix affinity
 * @param affinityBlocks leading blocks that form the affinity key
 * @param affinityLoadBound the bounded-load factor c (a worker keeps affine work while its load
 *     &le; c &middot; mean)
 */
public record GatewaySettings(
    String host,
    int port,
    Duration sseKeepAlive,
    long maxBodyBytes,
    int maxTokens,
    int defaultMaxTokens,
    long maxPromptTokens,
    int initialCredit,
    Duration wholeChunkInterval,
    Duration acceptTimeout,
    Duration silenceTimeout,
    Duration staleAfter,
    boolean authEnabled,
    Map<String, String> apiKeys,
    int affinityBlockChars,
    int affinityBlocks,
    double affinityLoadBound) {

  /** Reads and validates the section; an empty host means the node's bind host. */
  public static GatewaySettings fromConfig(Config c, NodeSettings node) {
    String host = Settings.string(c, "sluice.gateway.http.host");
    return fromConfig(c, host.isEmpty() ? node.bindHost() : host);
  }

  /** Reads and validates the section with an explicit bind host (tests). */
  public static GatewaySettings fromConfig(Config c, String host) {
    String k = "sluice.gateway.";
    int port = Settings.port(c, k + "http.port", true);
    Duration keepAlive =
        Settings.duration(c, k + "http.sse-keep-alive", Duration.ofMillis(10), Duration.ofHours(1));
    long body = Settings.bytes(c, k + "limits.max-body-size", 1024, 64L << 20);
    int maxTokens = Settings.integer(c, k + "limits.max-tokens", 1, 1 << 20);
    int defMax = Settings.integer(c, k + "limits.default-max-tokens", 1, maxTokens);
    int maxPrompt = Settings.integer(c, k + "limits.max-prompt-tokens", 1, 1 << 24);
    int credit = Settings.integer(c, k + "worker.initial-credit", 1, 1024);
    Duration day = Duration.ofDays(1);
    Duration ms = Duration.ofMillis(10);
    Duration wholeInterval =
        Settings.duration(
            c, k + "worker.whole-response-chunk-interval", Duration.ZERO, Duration.ofSeconds(10));
    Duration accept = Settings.duration(c, k + "worker.accept-timeout", ms, day);
    Duration silence = Settings.duration(c, k + "worker.silence-timeout", ms, day);
    Duration stale = Settings.duration(c, k + "worker.stale-after", ms, day);
    boolean auth;
    try {
      auth = c.getBoolean(k + "auth.enabled");
    } catch (com.typesafe.config.ConfigException e) {
      throw new SettingsException(k + "auth.enabled", "must be on or off: " + e.getMessage(), e);
    }
    Map<String, String> keys = new LinkedHashMap<>();
    Config kc = c.getConfig(k + "auth.keys");
    for (var e : kc.root().entrySet()) {
      Object tenant = e.getValue().unwrapped();
      if (!(tenant instanceof String t) || t.isBlank()) {
        throw new SettingsException(
            k + "auth.keys", "each key must map to a tenant name (a string)");
      }
      keys.put(e.getKey(), t);
    }
    if (auth && keys.isEmpty()) {
      throw new SettingsException(
          k + "auth.keys",
          "auth is enabled but no API keys are configured (sluice.gateway.auth.keys)");
    }
    int blockChars = Settings.integer(c, k + "routing.affinity-block-chars", 1, 1 << 20);
    int blocks = Settings.integer(c, k + "routing.affinity-blocks", 1, 1024);
    double bound;
    try {
      bound = c.getDouble(k + "routing.affinity-load-bound");
    } catch (com.typesafe.config.ConfigException e) {
      throw new SettingsException(k + "routing.affinity-load-bound", e.getMessage(), e);
    }
    if (!(bound >= 1)) {
      throw new SettingsException(k + "routing.affinity-load-bound", "must be >= 1, got " + bound);
    }
    return new GatewaySettings(
        host,
        port,
        keepAlive,
        body,
        maxTokens,
        defMax,
        maxPrompt,
        credit,
        wholeInterval,
        accept,
        silence,
        stale,
        auth,
        Map.copyOf(keys),
        blockChars,
        blocks,
        bound);
  }
}
