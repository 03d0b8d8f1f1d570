package dev.sluice.seed.alerting;

/**
 * Delivers alert notifications to one chat or incident service, in that service's documented
 * payload format. Implementations block (HTTP with a timeout and bounded retries) and are called
 * from the {@link NotificationDispatcher}'s thread for that notifier, never from an actor.
 */
public interface Notifier {

  /** A short name for logs: the key under {@code sluice.alerting.notifiers}. */
  String name();

  /**
   * Sends one notification; returns when the service accepted it.
   *
   * @throws NotifyException when every attempt failed (the cause names the last failure)
   */
  void send(Alert alert) throws NotifyException;

  /** Every attempt to deliver a notification failed. */
  final class NotifyException extends Exception {
    public NotifyException(String message, Throwable cause) {
      super(message, cause);
    }

    public NotifyException(String message) {
      super(message);
    }
  }
}
