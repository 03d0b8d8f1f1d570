package dev.sluice.pipeline;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.TimerGraphStageLogic;

/**
 * Merges a request's output chunks and emits them at most once per interval, for consumers that do
 * not read token by token (whole, non-streamed responses). Every other event ({@code Started}, the
 * terminal {@code Finished} or {@code Failed}) passes at once, after whatever was merged before it,
 * so the end of a response is never delayed.
 *
 * <p>Why a stage and not the consumer: the consumer pulls one element at a time (the worker's
 * credit-driven pull), and every pulled element costs a message to the worker actor and another
 * back to the stream; merged here, a token costs only its hand-over from the device thread. The
 * stage keeps pulling upstream while it holds merged output, so a lagging consumer does not pause
 * the sequence on the device: the merged text is bounded by the request's {@code max_tokens}.
 */
public final class Coalesce extends GraphStage<FlowShape<PipelineEvent, PipelineEvent>> {
  private static final String TIMER = "coalesce";

  private final Inlet<PipelineEvent> in = Inlet.create("Coalesce.in");
  private final Outlet<PipelineEvent> out = Outlet.create("Coalesce.out");
  private final FlowShape<PipelineEvent, PipelineEvent> shape = FlowShape.of(in, out);
  private final long intervalNanos;

  private Coalesce(Duration interval) {
    if (interval.isNegative() || interval.isZero()) {
      throw new IllegalArgumentException("coalescing interval must be > 0, got " + interval);
    }
    this.intervalNanos = interval.toNanos();
  }

  /** The flow: chunks merged and emitted at most every {@code interval}, other events at once. */
  public static Flow<PipelineEvent, PipelineEvent, NotUsed> flow(Duration interval) {
    return Flow.fromGraph(new Coalesce(interval));
  }

  @Override
  public FlowShape<PipelineEvent, PipelineEvent> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes inheritedAttributes) {
    return new TimerGraphStageLogic(shape) {
      private final ArrayDeque<PipelineEvent> ready = new ArrayDeque<>(2);
      private final StringBuilder text = new StringBuilder();
      private int tokens;
      private List<PipelineEvent.TokenChoice> logprobs = List.of();
      private boolean pending;
      private long lastEmitNanos = System.nanoTime();
      private boolean timerSet;
      private boolean upstreamDone;

      {
        setHandler(
            in,
            new AbstractInHandler() {
              @Override
              public void onPush() {
                PipelineEvent e = grab(in);
                if (e instanceof PipelineEvent.Chunk c) {
                  merge(c);
                } else {
                  moveMerged();
                  ready.add(e);
                }
                if (!e.terminal()) {
                  pull(in);
                }
                drain();
              }

              @Override
              public void onUpstreamFinish() {
                upstreamDone = true;
                moveMerged();
                drain();
              }
            });
        setHandler(
            out,
            new AbstractOutHandler() {
              @Override
              public void onPull() {
                drain();
              }
            });
      }

      @Override
      public void preStart() {
        pull(in);
      }

      @Override
      public void onTimer(Object key) {
        timerSet = false;
        drain();
      }

      private void merge(PipelineEvent.Chunk c) {
        text.append(c.text());
        tokens += c.tokens();
        if (!c.logprobs().isEmpty()) {
          if (logprobs.isEmpty()) {
            logprobs = new ArrayList<>();
          }
          logprobs.addAll(c.logprobs());
        }
        pending = true;
      }

      /** The merged output becomes the next event to send (before an event that follows it). */
      private void moveMerged() {
        if (pending) {
          ready.add(new PipelineEvent.Chunk(text.toString(), tokens, logprobs));
          text.setLength(0);
          tokens = 0;
          logprobs = List.of();
          pending = false;
        }
      }

      private void drain() {
        if (isAvailable(out)) {
          if (!ready.isEmpty()) {
            push(out, ready.poll());
          } else if (pending) {
            long since = System.nanoTime() - lastEmitNanos;
            if (since >= intervalNanos) {
              moveMerged();
              push(out, ready.poll());
              lastEmitNanos = System.nanoTime();
            } else if (!timerSet) {
              timerSet = true;
              scheduleOnce(TIMER, Duration.ofNanos(intervalNanos - since));
            }
          }
        }
        if (ready.isEmpty() && !pending && (upstreamDone || isClosed(in))) {
          completeStage();
        }
      }
    };
  }
}
