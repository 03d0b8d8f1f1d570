package dev.sluice.seed.alerting;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.management.javadsl.ManagementRouteProvider;
import org.apache.pekko.management.javadsl.ManagementRouteProviderSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /alerts/alertmanager} on a seed node's management port: an Alertmanager {@code
 * webhook_configs} target that relays Prometheus alerts to the notifiers named in {@code
 * sluice.alerting.relay.notifiers} (by default the DingTalk and WeCom robots, which cannot take
 * Alertmanager's format themselves), with the built-in evaluator's payloads, DingTalk signing,
 * timeouts and retries.
 *
 * <p>Answers 200 once the alerts are queued for delivery (delivery failures are logged, as for the
 * built-in evaluator), 400 for a body that is not Alertmanager's webhook JSON, 401 without the
 * bearer token when {@code sluice.alerting.relay.token-env} names a set variable, and 503 when no
 * relay notifier has an address (Alertmanager then retries). Registered in seed-node's {@code
 * reference.conf} ({@code pekko.management.http.routes.sluice-alert-relay}).
 */
public final class AlertRelayRouteProvider extends AllDirectives
    implements ManagementRouteProvider {

  private static final Logger log = LoggerFactory.getLogger(AlertRelayRouteProvider.class);

  private final boolean enabled;
  private final String token;
  private final NotificationDispatcher dispatcher;
  private final List<String> names;

  /** Called reflectively by Pekko Management. */
  public AlertRelayRouteProvider(ExtendedActorSystem system) {
    var config = system.settings().config();
    AlertingSettings settings =
        AlertingSettings.fromConfig(config, System::getenv, new ArrayList<>());
    enabled = config.getBoolean("sluice.alerting.relay.enabled");
    Set<String> wanted = Set.copyOf(config.getStringList("sluice.alerting.relay.notifiers"));
    List<Notifier> notifiers =
        NotificationDispatcher.notifiers(settings, Clock.systemUTC()).stream()
            .filter(n -> wanted.contains(n.name()))
            .toList();
    names = notifiers.stream().map(Notifier::name).toList();
    String tokenEnv = config.getString("sluice.alerting.relay.token-env");
    token = tokenEnv.isEmpty() ? null : System.getenv(tokenEnv);
    dispatcher = new NotificationDispatcher(notifiers);
    system.registerOnTermination(() -> dispatcher.close(2_000));
  }

  @Override
  public Route routes(ManagementRouteProviderSettings settings) {
    return path(
        PathMatchers.segment("alerts").slash("alertmanager"),
        () ->
            post(
                () ->
                    optionalHeaderValueByName(
                        "Authorization",
                        auth ->
                            entity(
                                Unmarshaller.entityToString(),
                                body -> relay(auth.orElse(null), body)))));
  }

  private Route relay(String authorization, String body) {
    if (!enabled) {
      return complete(
          StatusCodes.NOT_FOUND, "alert relay disabled (sluice.alerting.relay.enabled)");
    }
    if (token != null && !("Bearer " + token).equals(authorization)) {
      return complete(StatusCodes.UNAUTHORIZED, "bearer token required");
    }
    if (names.isEmpty()) {
      return complete(
          StatusCodes.SERVICE_UNAVAILABLE,
          "no relay notifier has an address (sluice.alerting.relay.notifiers; e.g."
              + " SLUICE_ALERT_DINGTALK_URL, SLUICE_ALERT_WECOM_URL)");
    }
    List<Alert> alerts;
    try {
      alerts = AlertmanagerRelay.parse(body);
    } catch (IllegalArgumentException e) {
      return complete(StatusCodes.BAD_REQUEST, e.getMessage());
    }
    log.info("Relaying {} Alertmanager alert(s) to {}", alerts.size(), names);
    dispatcher.dispatch(alerts);
    return complete(StatusCodes.OK, "relayed " + alerts.size() + " alert(s) to " + names);
  }
}
