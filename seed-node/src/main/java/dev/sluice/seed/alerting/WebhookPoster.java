package dev.sluice.seed.alerting;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Posts a JSON body with a per-attempt timeout and bounded retries with exponential back-off. A
 * failure is retried when it may be transient: an I/O error or timeout, HTTP 429 or 5xx, or a
 * service-level error code the {@link ResponseCheck} marks retryable (DingTalk and WeCom answer
 * HTTP 200 with an {@code errcode} when they throttle).
 */
final class WebhookPoster {

  /** Judges a response: null when accepted, else why not. */
  @FunctionalInterface
  interface ResponseCheck {
    Rejection check(int status, String body);
  }

  /** Why a response was not accepted, and whether to try again. */
  record Rejection(String reason, boolean retryable) {}

  /** Accepts any 2xx. */
  static final ResponseCheck ANY_2XX =
      (status, body) ->
          status / 100 == 2
              ? null
              : new Rejection("HTTP " + status + ": " + abbreviate(body), retryable(status));

  private final HttpClient client;
  private final Duration timeout;
  private final int retries;
  private final Duration backoff;

  WebhookPoster(HttpClient client, Duration timeout, int retries, Duration backoff) {
    this.client = client;
    this.timeout = timeout;
    this.retries = retries;
    this.backoff = backoff;
  }

  /**
   * Posts {@code json} to the URI {@code uri} supplies (called per attempt: DingTalk signs each
   * attempt with a fresh timestamp) with extra {@code headers}.
   */
  void post(
      String what, Supplier<URI> uri, Map<String, String> headers, String json, ResponseCheck check)
      throws Notifier.NotifyException {
    String last = "no attempt";
    Throwable lastCause = null;
    for (int attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        try {
          Thread.sleep(backoff.multipliedBy(1L << Math.min(attempt - 1, 10)));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new Notifier.NotifyException(what + ": interrupted while retrying", e);
        }
      }
      HttpRequest.Builder b =
          HttpRequest.newBuilder(uri.get())
              .timeout(timeout)
              .header("Content-Type", "application/json; charset=utf-8")
              .POST(HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
      headers.forEach(b::header);
      try {
        HttpResponse<String> r =
            client.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        Rejection rejection = check.check(r.statusCode(), r.body());
        if (rejection == null) {
          return;
        }
        last = rejection.reason();
        lastCause = null;
        if (!rejection.retryable()) {
          break;
        }
      } catch (IOException e) {
        // HttpTimeoutException is an IOException: a slow service is retried like a broken one.
        last = e.toString();
        lastCause = e;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new Notifier.NotifyException(what + ": interrupted", e);
      }
    }
    throw new Notifier.NotifyException(what + " failed after retries: " + last, lastCause);
  }

  static boolean retryable(int status) {
    return status == 429 || status >= 500;
  }

  static String abbreviate(String body) {
    String s = body == null ? "" : body.strip();
    return s.length() > 200 ? s.substring(0, 200) + "..." : s;
  }
}
