package dev.sluice.seed.alerting;

import java.net.http.HttpClient;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hands notifications to the notifiers off the actor's thread: one thread and one bounded queue per
 * notifier, so a slow or dead service delays only its own messages, and a firing message is always
 * delivered before its resolved message. When a queue is full the notification is dropped and
 * logged (a chat room flooded by a backlog helps nobody; the evaluator repeats active alerts).
 */
public final class NotificationDispatcher implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(NotificationDispatcher.class);
  private static final int QUEUE = 256;

  private record Lane(Notifier notifier, ExecutorService executor) {}

  private final List<Lane> lanes = new ArrayList<>();

  /** A dispatcher over {@code notifiers}. */
  public NotificationDispatcher(List<Notifier> notifiers) {
    for (Notifier n : notifiers) {
      ThreadPoolExecutor ex =
          new ThreadPoolExecutor(
              1,
              1,
              0,
              TimeUnit.MILLISECONDS,
              new ArrayBlockingQueue<>(QUEUE),
              r -> {
                Thread t = new Thread(r, "sluice-notifier-" + n.name());
                t.setDaemon(true);
                return t;
              });
      lanes.add(new Lane(n, ex));
    }
  }

  /** Builds the notifiers {@code settings} configure. */
  public static List<Notifier> notifiers(AlertingSettings settings, Clock clock) {
    HttpClient client =
        HttpClient.newBuilder()
            .connectTimeout(settings.httpTimeout())
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();
    WebhookPoster poster =
        new WebhookPoster(
            client, settings.httpTimeout(), settings.httpRetries(), settings.httpRetryBackoff());
    List<Notifier> out = new ArrayList<>();
    for (AlertingSettings.NotifierSettings n : settings.notifiers()) {
      out.add(
          switch (n.type()) {
            case "dingtalk" -> new DingTalkNotifier(n.name(), n.url(), n.secret(), clock, poster);
            case "wecom" -> new WeComNotifier(n.name(), n.url(), poster);
            case "slack" -> new SlackNotifier(n.name(), n.url(), poster);
            case "webhook" -> new JsonWebhookNotifier(n.name(), n.url(), n.secret(), poster);
            default -> throw new IllegalArgumentException("notifier type " + n.type());
          });
    }
    return out;
  }

  /** Queues {@code alerts} for every notifier, in order. */
  public void dispatch(List<Alert> alerts) {
    for (Alert a : alerts) {
      for (Lane lane : lanes) {
        try {
          lane.executor().execute(() -> deliver(lane.notifier(), a));
        } catch (RejectedExecutionException e) {
          log.warn(
              "Notifier {} is backlogged; dropped {} {}",
              lane.notifier().name(),
              a.status(),
              a.key());
        }
      }
    }
  }

  private static void deliver(Notifier n, Alert a) {
    try {
      n.send(a);
      log.info("Notified {}: {} {}", n.name(), a.status(), a.key());
    } catch (Notifier.NotifyException e) {
      log.error(
          "Notifier {} could not deliver {} {}: {}", n.name(), a.status(), a.key(), e.getMessage());
    } catch (RuntimeException e) {
      log.error("Notifier {} failed on {} {}", n.name(), a.status(), a.key(), e);
    }
  }

  /** Stops the notifier threads, letting queued notifications finish for up to {@code millis}. */
  public void close(long millis) {
    for (Lane lane : lanes) {
      lane.executor().shutdown();
    }
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    for (Lane lane : lanes) {
      try {
        long left = deadline - System.nanoTime();
        if (left <= 0 || !lane.executor().awaitTermination(left, TimeUnit.NANOSECONDS)) {
          lane.executor().shutdownNow();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        lane.executor().shutdownNow();
      }
    }
  }

  @Override
  public void close() {
    close(5_000);
  }
}
