package dev.sluice.seed.alerting;

import dev.sluice.node.metrics.NodeSnapshot;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The built-in alert evaluator's algorithm, with the semantics of Prometheus alerting rules plus
 * Alertmanager's repeat and resolve: an alert is <em>pending</em> from the first evaluation its
 * condition holds, <em>firing</em> once it has held for the rule's {@code for} duration (notify
 * once), re-notified every {@code repeatInterval} while it keeps firing, and <em>resolved</em>
 * (notify once) at the first evaluation its condition no longer holds, whether the value dropped or
 * the node stopped reporting ({@code staleAfter}). A pending alert whose condition lapses is
 * forgotten silently.
 *
 * <p>Plain Java and not thread-safe: one owner (the {@link Alerter} singleton) calls {@link
 * #evaluate}. State is in memory only: after a singleton fail-over a still-active alert notifies
 * once more from the new seed node.
 */
public final class AlertEvaluator {

  private record State(
      AlertRule rule,
      String node,
      String subject,
      Instant pendingSince,
      Instant firedAt,
      Instant lastNotified,
      double value) {}

  private final List<AlertRule> rules;
  private final Duration repeatInterval;
  private final Duration staleAfter;
  private final Map<String, State> states = new HashMap<>();

  public AlertEvaluator(List<AlertRule> rules, Duration repeatInterval, Duration staleAfter) {
    this.rules = List.copyOf(rules);
    this.repeatInterval = repeatInterval;
    this.staleAfter = staleAfter;
  }

  /**
   * Evaluates every rule over the latest snapshot of each node at {@code now}; returns the
   * notifications to send, in a stable order (rule, node, subject).
   */
  public List<Alert> evaluate(Instant now, Collection<NodeSnapshot> latest) {
    List<Alert> out = new ArrayList<>();
    Set<String> breaching = new HashSet<>();
    for (NodeSnapshot snapshot : latest) {
      if (Duration.between(Instant.ofEpochMilli(snapshot.atEpochMillis()), now)
              .compareTo(staleAfter)
          > 0) {
        continue; // a silent node's alerts resolve below
      }
      for (AlertRule rule : rules) {
        for (NodeSnapshot.Signal s : snapshot.signals()) {
          if (!s.name().equals(rule.signal()) || !(s.value() > rule.threshold())) {
            continue;
          }
          String key = rule.alertName() + "|" + snapshot.node() + "|" + s.subject();
          breaching.add(key);
          State st = states.get(key);
          if (st == null) {
            st = new State(rule, snapshot.node(), s.subject(), now, null, null, s.value());
          } else {
            st =
                new State(
                    rule,
                    st.node(),
                    st.subject(),
                    st.pendingSince(),
                    st.firedAt(),
                    st.lastNotified(),
                    s.value());
          }
          if (st.firedAt() == null) {
            if (Duration.between(st.pendingSince(), now).compareTo(rule.forDuration()) >= 0) {
              st =
                  new State(rule, st.node(), st.subject(), st.pendingSince(), now, now, st.value());
              out.add(alert(st, Alert.Status.FIRING, null, false));
            }
          } else if (Duration.between(st.lastNotified(), now).compareTo(repeatInterval) >= 0) {
            st =
                new State(
                    rule,
                    st.node(),
                    st.subject(),
                    st.pendingSince(),
                    st.firedAt(),
                    now,
                    st.value());
            out.add(alert(st, Alert.Status.FIRING, null, true));
          }
          states.put(key, st);
        }
      }
    }
    for (Iterator<Map.Entry<String, State>> it = states.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<String, State> e = it.next();
      if (breaching.contains(e.getKey())) {
        continue;
      }
      State st = e.getValue();
      if (st.firedAt() != null) {
        out.add(alert(st, Alert.Status.RESOLVED, now, false));
      }
      it.remove();
    }
    out.sort(
        (a, b) -> {
          int c = Integer.compare(rules.indexOf(a.rule()), rules.indexOf(b.rule()));
          return c != 0 ? c : a.key().compareTo(b.key());
        });
    return out;
  }

  /** The alerts firing now (pending ones excluded). */
  public List<Alert> active() {
    List<Alert> out = new ArrayList<>();
    for (State st : states.values()) {
      if (st.firedAt() != null) {
        out.add(alert(st, Alert.Status.FIRING, null, false));
      }
    }
    out.sort((a, b) -> a.key().compareTo(b.key()));
    return out;
  }

  private static Alert alert(State st, Alert.Status status, Instant endsAt, boolean repeat) {
    return new Alert(
        st.rule(), st.node(), st.subject(), st.value(), status, st.firedAt(), endsAt, repeat);
  }
}
