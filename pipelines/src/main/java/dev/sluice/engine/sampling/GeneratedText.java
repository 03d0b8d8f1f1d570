package dev.sluice.engine.sampling;

import dev.sluice.engine.tokenizer.StreamingDetokenizer;
import dev.sluice.engine.tokenizer.Tokenizer;
import java.util.List;

/**
 * The text side of one generation: generated token ids in, text deltas out, with UTF-8-safe
 * detokenization ({@link StreamingDetokenizer}) followed by stop-string matching ({@link
 * StopMatcher}). What {@link #push} returns can be streamed to the client as is; once a stop string
 * has matched, the sequence should end and nothing more is returned.
 *
 * <p>One per sequence; not thread-safe.
 */
public final class GeneratedText {
  private final StreamingDetokenizer detokenizer;
  private final StopMatcher stops;

  /**
   * @param renderSpecial include the text of control tokens (normally {@code false})
   */
  public GeneratedText(Tokenizer tokenizer, List<String> stopStrings, boolean renderSpecial) {
    this.detokenizer = tokenizer.newStreamingDetokenizer(renderSpecial);
    this.stops = new StopMatcher(stopStrings);
  }

  /** Adds a generated token; returns the text that can be sent now (often ""). */
  public String push(int token) {
    String text = detokenizer.push(token);
    return text.isEmpty() ? "" : stops.push(text);
  }

  /** Whether a stop string matched: end the sequence. */
  public boolean stopped() {
    return stops.stopped();
  }

  /** The stop string that matched, or {@code null}. */
  public String matchedStop() {
    return stops.matchedStop();
  }

  /** At the end of the sequence: the text still held back (incomplete bytes become U+FFFD). */
  public String finish() {
    String tail = stops.push(detokenizer.flush());
    return stops.stopped() ? tail : tail + stops.flush();
  }
}
