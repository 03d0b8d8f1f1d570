package dev.sluice.node.worker;

import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The messages between gateways and {@code GpuWorker} entities. They cross the network, so every
 * record here is listed in {@code sluice.serialization.kryo.classes} (cluster-node's
 * reference.conf).
 *
 * <p>Flow: a gateway sends {@link Generate} to the worker entity chosen by its router; the worker
 * answers {@link Accepted} (or {@link Failed} with a reason), then {@link Chunk}s in order, then
 * exactly one {@link Completed} or {@link Failed}. Chunks are credit-based: the worker sends at
 * most {@code Generate.initialCredit} chunks beyond the last {@link Ack}, so a slow client pauses
 * its sequence instead of filling buffers. {@link Cancel} (client gone, deadline passed) frees the
 * sequence and its KV blocks at once. Every worker publishes a {@link LoadReport} every second.
 */
public final class WorkerProtocol {
  private WorkerProtocol() {}

  /** Sent to a worker entity. */
  public sealed interface Command permits Generate, Cancel, Ack {}

  /** Sent back to the gateway-side request actor. */
  public sealed interface Event permits Accepted, Chunk, Completed, Failed {
    String requestId();
  }

  /** One chat message of a {@link ChatPrompt}. */
  public record Message(String role, String content) {}

  /** What to generate from: raw text (completions) or chat messages (chat completions). */
  public sealed interface Prompt permits TextPrompt, ChatPrompt {}

  public record TextPrompt(String text) implements Prompt {}

  public record ChatPrompt(List<Message> messages) implements Prompt {}

  /**
   * Sampling and stopping, already validated by the gateway (the worker re-checks against the
   * model: context length, vocabulary).
   *
   * @param topLogprobs -1 when log-probabilities are off, else how many alternatives (0..20)
   */
  public record GenerationParams(
      int maxTokens,
      float temperature,
      float topP,
      int topK,
      float minP,
      float repetitionPenalty,
      float presencePenalty,
      float frequencyPenalty,
      long seed,
      boolean hasSeed,
      List<String> stop,
      int topLogprobs) {}

  /**
   * Starts a generation.
   *
   * @param requestId unique per attempt (a retry on another worker gets a new id)
   * @param deadlineEpochMs wall-clock deadline; the worker fails the request with reason {@code
   *     deadline} once it passes
   * @param priority 0 = most important; used when the worker must shed queued work
   * @param initialCredit how many chunks may be in flight before an {@link Ack}
   * @param chunkIntervalMs 0: send each chunk as soon as it is ready (streamed responses); above 0,
   *     the worker merges the output and sends a chunk at most every this many milliseconds, and
   *     always before the end (whole responses, which nobody reads token by token: fewer messages
   *     and wake-ups per token)
   */
  public record Generate(
      String requestId,
      String model,
      Prompt prompt,
      GenerationParams params,
      long deadlineEpochMs,
      int priority,
      int initialCredit,
      int chunkIntervalMs,
      ActorRef<Event> replyTo)
      implements Command {}

  /** The client is gone or the deadline passed: stop and free the sequence. */
  public record Cancel(String requestId) implements Command {}

  /** The gateway consumed {@code chunks} more chunks: that many may be sent. */
  public record Ack(String requestId, int chunks) implements Command {}

  /** The worker queued the request; {@code promptTokens} after templating and tokenizing. */
  public record Accepted(String requestId, int promptTokens) implements Event {}

  /** One log-probability entry (OpenAI's shape). */
  public record TokenLogprob(String token, float logprob, byte[] bytes) {}

  /** Log-probabilities of one generated token and its top alternatives. */
  public record ChunkLogprob(TokenLogprob chosen, List<TokenLogprob> top) {}

  /**
   * Generated text since the previous chunk (UTF-8 complete; stop strings already removed).
   *
   * @param seq 0, 1, 2, ... per request
   * @param tokens how many tokens this chunk covers
   * @param logprobs one entry per token, or empty when log-probabilities are off
   */
  public record Chunk(
      String requestId, int seq, String text, int tokens, List<ChunkLogprob> logprobs)
      implements Event {}

  /**
   * The generation ended normally.
   *
   * @param finishReason OpenAI's: {@code stop} or {@code length}
   */
  public record Completed(
      String requestId, String finishReason, int promptTokens, int completionTokens)
      implements Event {}

  /**
   * The generation failed. {@code retryable}: nothing was generated and another worker may try
   * (e.g. queue full, model not loaded, device lost before the first chunk).
   *
   * @param reason a short machine-readable reason ({@code queue_full}, {@code deadline}, {@code
   *     prompt_too_long}, {@code device_error}, {@code cancelled}, {@code model_not_found})
   */
  public record Failed(String requestId, String reason, String message, boolean retryable)
      implements Event {}

  /**
   * A worker's load, published every second (and on big changes) to every gateway, e.g. through a
   * Pekko {@code Topic} named {@code sluice-worker-load}.
   *
   * @param workerId the sharded entity id, e.g. {@code node-1:gpu-0} or {@code node-1:cpu-0}
   * @param queuedPromptTokens prompt tokens admitted but not yet prefilled
   * @param prefillTokensPerSecond measured (EWMA) prefill rate per second of device busy time (the
   *     device's capacity, which idle time does not lower); 0 until measured
   * @param decodeTokensPerSecond measured (EWMA) aggregate decode rate per second of busy time
   */
  public record LoadReport(
      String workerId,
      String address,
      String model,
      boolean ready,
      int activeSequences,
      int maxSequences,
      int waitingRequests,
      long queuedPromptTokens,
      long queuedDecodeTokens,
      int freeKvBlocks,
      int totalKvBlocks,
      int kvBlockSize,
      double prefillTokensPerSecond,
      double decodeTokensPerSecond,
      long timestampMs) {}
}
