package dev.sluice.engine.sampling;

import java.util.List;

/**
 * Finds stop strings in generated text that arrives in pieces (one detokenized token at a time),
 * across piece boundaries. Text that might be the beginning of a stop string is held back, and
 * released as soon as it cannot be; when a stop string completes, the text before it is released
 * and the sequence is finished (the stop string itself is never emitted, as in OpenAI's API).
 *
 * <p>One per sequence; not thread-safe.
 */
public final class StopMatcher {
  private final String[] stops;
  private final StringBuilder pending = new StringBuilder();
  private String matched;

  public StopMatcher(List<String> stops) {
    this.stops = stops.toArray(new String[0]);
    for (String s : this.stops) {
      if (s.isEmpty()) {
        throw new IllegalArgumentException("stop strings must not be empty");
      }
    }
  }

  /**
   * Adds newly generated text; returns the text that can be emitted now (possibly empty). After a
   * stop string has matched, returns "" for everything.
   */
  public String push(String text) {
    if (matched != null) {
      return "";
    }
    pending.append(text);
    if (stops.length == 0) {
      String all = pending.toString();
      pending.setLength(0);
      return all;
    }
    // Earliest complete occurrence of any stop string.
    int cut = -1;
    for (String s : stops) {
      int at = pending.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
        matched = s;
      }
    }
    if (cut >= 0) {
      String out = pending.substring(0, cut);
      pending.setLength(0);
      return out;
    }
    // Hold back the longest suffix that is a proper prefix of some stop string.
    int hold = 0;
    for (String s : stops) {
      int max = Math.min(s.length() - 1, pending.length());
      for (int k = max; k > hold; k--) {
        if (endsWith(pending, s, k)) {
          hold = k;
          break;
        }
      }
    }
    int release = pending.length() - hold;
    String out = pending.substring(0, release);
    pending.delete(0, release);
    return out;
  }

  private static boolean endsWith(StringBuilder sb, String s, int k) {
    int base = sb.length() - k;
    for (int i = 0; i < k; i++) {
      if (sb.charAt(base + i) != s.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** Whether a stop string has matched: the sequence is finished. */
  public boolean stopped() {
    return matched != null;
  }

  /** The stop string that matched, or {@code null}. */
  public String matchedStop() {
    return matched;
  }

  /** At the end of generation (not stopped): the text still held back. */
  public String flush() {
    String out = matched == null ? pending.toString() : "";
    pending.setLength(0);
    return out;
  }
}
