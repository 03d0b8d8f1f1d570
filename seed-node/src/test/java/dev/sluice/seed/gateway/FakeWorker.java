package dev.sluice.seed.gateway;

import dev.sluice.node.worker.WorkerProtocol;
import dev.sluice.node.worker.WorkerProtocol.Accepted;
import dev.sluice.node.worker.WorkerProtocol.Chunk;
import dev.sluice.node.worker.WorkerProtocol.Completed;
import dev.sluice.node.worker.WorkerProtocol.Failed;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * TEST DOUBLE: a worker that speaks {@link WorkerProtocol} without a model, used until the worker
 * branch's {@code GpuWorker} is merged. It answers every {@code Generate} with {@code Accepted} and
 * the chunks of {@code words} (one token each), honouring the gateway's credit, then {@code
 * Completed} ("stop"). Its {@link Mode} makes it fail in the ways the gateway must survive. Every
 * command it receives is recorded in {@link #log} for assertions.
 */
final class FakeWorker {
  enum Mode {
    /** Generates normally. */
    NORMAL,
    /** Fails every request as retryable before any output (e.g. its device was lost). */
    FAIL_RETRYABLE,
    /** Accepts and then never says anything again (a dead node, seen from the gateway). */
    SILENT,
    /** Sends the first chunk, then goes silent (dies mid-stream). */
    DIE_AFTER_FIRST_CHUNK,
    /** Accepts, then streams one chunk per 'tick' message only (a slow worker). */
    HOLD,
    /** Never answers (a request waiting in a busy worker's queue, seen from the gateway). */
    MUTE
  }

  final ConcurrentLinkedQueue<WorkerProtocol.Command> log = new ConcurrentLinkedQueue<>();
  volatile Mode mode;
  final List<String> words;

  FakeWorker(Mode mode, List<String> words) {
    this.mode = mode;
    this.words = words;
  }

  private static final class Seq {
    ActorRef<WorkerProtocol.Event> replyTo;
    int next;
    int credit;
    int seq;
  }

  Behavior<WorkerProtocol.Command> behavior() {
    Map<String, Seq> seqs = new HashMap<>();
    return Behaviors.receive(
        (ctx, cmd) -> {
          log.add(cmd);
          switch (cmd) {
            case WorkerProtocol.Generate g -> {
              switch (mode) {
                case FAIL_RETRYABLE ->
                    g.replyTo()
                        .tell(new Failed(g.requestId(), "device_error", "device lost", true));
                case SILENT -> g.replyTo().tell(new Accepted(g.requestId(), 7));
                case MUTE -> {}
                default -> {
                  g.replyTo().tell(new Accepted(g.requestId(), 7));
                  Seq s = new Seq();
                  s.replyTo = g.replyTo();
                  s.credit = g.initialCredit();
                  seqs.put(g.requestId(), s);
                  if (mode != Mode.HOLD) {
                    pump(g.requestId(), s, seqs);
                  }
                }
              }
            }
            case WorkerProtocol.Ack a -> {
              Seq s = seqs.get(a.requestId());
              if (s != null) {
                s.credit += a.chunks();
                if (mode != Mode.HOLD) {
                  pump(a.requestId(), s, seqs);
                }
              }
            }
            case WorkerProtocol.Cancel c -> seqs.remove(c.requestId());
          }
          return Behaviors.same();
        });
  }

  private void pump(String id, Seq s, Map<String, Seq> seqs) {
    while (s.credit > 0 && s.next < words.size()) {
      s.replyTo.tell(new Chunk(id, s.seq++, words.get(s.next++), 1, List.of()));
      s.credit--;
      if (mode == Mode.DIE_AFTER_FIRST_CHUNK) {
        seqs.remove(id);
        return;
      }
    }
    if (s.next == words.size()) {
      s.replyTo.tell(new Completed(id, "stop", 7, words.size()));
      seqs.remove(id);
    }
  }

  List<WorkerProtocol.Command> received(Class<?> type) {
    List<WorkerProtocol.Command> out = new ArrayList<>();
    for (WorkerProtocol.Command c : log) {
      if (type.isInstance(c)) {
        out.add(c);
      }
    }
    return out;
  }
}
