package dev.sluice.pipeline;

import dev.sluice.engine.chat.ChatMessage;
import dev.sluice.engine.sampling.SamplingParams;
import java.util.List;

/**
 * One generation as the pipeline receives it: raw text or chat messages, and validated sampling
 * parameters (the pipeline re-checks them against the model).
 *
 * @param id unique per request (used for logs and cancellation)
 * @param text raw prompt text (a completion; BOS added if the model wants one), or null for chat
 * @param messages chat messages rendered with the model's chat template, or null for raw text
 * @param deliveryIntervalMs 0: the device hands each token to the request's stream at once; above 0
 *     (whole responses without stop strings, see {@link #withDeliveryInterval}): the device thread
 *     collects the tokens and hands them over at most this often and at the end, so a token costs
 *     no cross-thread hand-over
 */
public record PipelineRequest(
    String id,
    String text,
    List<ChatMessage> messages,
    SamplingParams params,
    int deliveryIntervalMs) {
  public PipelineRequest {
    if (id == null || id.isEmpty()) {
      throw new IllegalArgumentException("request id is required");
    }
    if ((text == null) == (messages == null)) {
      throw new IllegalArgumentException("exactly one of text and messages is required");
    }
    if (params == null) {
      throw new IllegalArgumentException("sampling params are required");
    }
    if (deliveryIntervalMs < 0) {
      throw new IllegalArgumentException(
          "delivery interval must be >= 0 ms, got " + deliveryIntervalMs);
    }
    messages = messages == null ? null : List.copyOf(messages);
  }

  public static PipelineRequest text(String id, String text, SamplingParams params) {
    return new PipelineRequest(id, text, null, params, 0);
  }

  public static PipelineRequest chat(String id, List<ChatMessage> messages, SamplingParams p) {
    return new PipelineRequest(id, null, messages, p, 0);
  }

  /**
   * This request with tokens handed over in groups, at most every {@code ms} milliseconds and at
   * the end. Stop strings are matched on the text, after the hand-over, so a request with stop
   * strings keeps per-token delivery (its end would otherwise be seen up to {@code ms} late).
   */
  public PipelineRequest withDeliveryInterval(int ms) {
    return new PipelineRequest(id, text, messages, params, params.stop().isEmpty() ? ms : 0);
  }

  /** A rough prompt size before tokenizing, for admission (about 4 characters a token). */
  int estimatedTokens() {
    long chars = 0;
    if (text != null) {
      chars = text.length();
    } else {
      for (ChatMessage m : messages) {
        chars += m.content().length() + 8;
      }
    }
    return (int) Math.min(Integer.MAX_VALUE, chars / 4 + 1);
  }
}
