package dev.sluice.pipeline;

import dev.sluice.engine.FinishReason;
import dev.sluice.engine.sampling.StopMatcher;
import dev.sluice.engine.tokenizer.StreamingDetokenizer;
import dev.sluice.engine.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Flow;

/**
 * The postprocess stage of one request: the device's raw token events become text (incremental,
 * UTF-8-safe detokenization), stop strings end the generation (the text before the stop string is
 * sent, the stop string is not), log-probabilities are rendered, and while the consumer lags the
 * tokens are merged into chunks of at most {@code maxChunkTokens} tokens ({@code batch}), so a slow
 * consumer gets fewer, larger chunks and then pauses the sequence. The stream ends after the
 * terminal event; ending early (a stop string) cancels upstream, which frees the sequence.
 */
public final class Postprocess {
  private Postprocess() {}

  /** The postprocess flow for one request of {@code tokenizer}'s model. */
  public static Flow<Object, PipelineEvent, NotUsed> flow(
      Tokenizer tokenizer, List<String> stops, int maxChunkTokens) {
    return Flow.of(Object.class)
        .statefulMapConcat(
            () -> {
              State st = new State(tokenizer, stops);
              return st::apply;
            })
        .batch(maxChunkTokens, Postprocess::seed, Postprocess::merge)
        .mapConcat(list -> list)
        .takeWhile(e -> !e.terminal(), true);
  }

  private static List<PipelineEvent> seed(PipelineEvent e) {
    List<PipelineEvent> l = new ArrayList<>(2);
    l.add(e);
    return l;
  }

  private static List<PipelineEvent> merge(List<PipelineEvent> acc, PipelineEvent e) {
    int last = acc.size() - 1;
    if (e instanceof PipelineEvent.Chunk c && acc.get(last) instanceof PipelineEvent.Chunk p) {
      List<PipelineEvent.TokenChoice> lps = p.logprobs();
      if (!c.logprobs().isEmpty()) {
        lps = new ArrayList<>(p.logprobs());
        lps.addAll(c.logprobs());
      }
      acc.set(last, new PipelineEvent.Chunk(p.text() + c.text(), p.tokens() + c.tokens(), lps));
    } else {
      acc.add(e);
    }
    return acc;
  }

  /** Per-request detokenizer and stop matcher. */
  private static final class State {
    private final Tokenizer tokenizer;
    private final StreamingDetokenizer detok;
    private final StopMatcher stop;
    private int emittedTokens;
    private int promptTokens;
    private boolean done;

    State(Tokenizer tokenizer, List<String> stops) {
      this.tokenizer = tokenizer;
      this.detok = tokenizer.newStreamingDetokenizer(false);
      this.stop = new StopMatcher(stops);
    }

    List<PipelineEvent> apply(Object raw) {
      if (done) {
        return List.of();
      }
      return switch (raw) {
        case PipelineEvent.Started s -> {
          promptTokens = s.promptTokens();
          yield List.of(s);
        }
        case DeviceLoop.TokenEvent t -> onToken(t);
        case DeviceLoop.TokenBatch b -> {
          // One chunk for the group (merged as a lagging consumer's chunks are), not one per token.
          List<PipelineEvent> out = new ArrayList<>(2);
          for (DeviceLoop.TokenEvent t : b.tokens()) {
            for (PipelineEvent e : onToken(t)) {
              out = out.isEmpty() ? seed(e) : merge(out, e);
            }
            if (done) {
              break; // a stop string matched: the rest is not output
            }
          }
          yield out;
        }
        case DeviceLoop.EndEvent e -> onEnd(e);
        default -> throw new IllegalStateException("unexpected pipeline element " + raw);
      };
    }

    private List<PipelineEvent> onToken(DeviceLoop.TokenEvent t) {
      emittedTokens++;
      String text = stop.push(detok.push(t.token()));
      List<PipelineEvent.TokenChoice> lps =
          t.logprobs() == null ? List.of() : List.of(choice(t.token(), t.logprobs()));
      PipelineEvent.Chunk c = new PipelineEvent.Chunk(text, 1, lps);
      if (stop.stopped()) {
        done = true;
        return List.of(c, new PipelineEvent.Finished("stop", promptTokens, emittedTokens));
      }
      return List.of(c);
    }

    private List<PipelineEvent> onEnd(DeviceLoop.EndEvent e) {
      done = true;
      List<PipelineEvent> out = new ArrayList<>(2);
      String tail = stop.push(detok.flush());
      if (!stop.stopped()) {
        tail += stop.flush();
      }
      if (!tail.isEmpty()) {
        out.add(new PipelineEvent.Chunk(tail, 0, List.of()));
      }
      if (e.fail() != null) {
        out.add(e.fail());
      } else {
        String reason = stop.stopped() || e.reason() == FinishReason.STOP ? "stop" : "length";
        out.add(new PipelineEvent.Finished(reason, e.promptTokens(), e.generated()));
      }
      return out;
    }

    private PipelineEvent.TokenChoice choice(int token, DeviceLoop.TokenLogprobsCopy lp) {
      List<PipelineEvent.Logprob> top = new ArrayList<>(lp.topIds().length);
      for (int i = 0; i < lp.topIds().length; i++) {
        top.add(logprob(lp.topIds()[i], lp.topLogprobs()[i]));
      }
      return new PipelineEvent.TokenChoice(logprob(token, lp.logprob()), top);
    }

    private PipelineEvent.Logprob logprob(int token, float value) {
      byte[] bytes = tokenizer.tokenBytes(token).clone();
      return new PipelineEvent.Logprob(new String(bytes, StandardCharsets.UTF_8), value, bytes);
    }
  }
}
