package dev.sluice.pipeline;

import dev.sluice.engine.chat.ChatMessage;
import dev.sluice.engine.chat.ChatTemplate;
import dev.sluice.engine.chat.ChatTemplateException;
import dev.sluice.engine.tokenizer.Tokenizer;

/**
 * The prefetch stage's work for one request, run off the device thread ({@code mapAsync} on the
 * prefetch executor): render the chat template (or take raw text), tokenize, and validate against
 * the model. Thread-safe: the tokenizer and the template are immutable.
 *
 * <p>Failure semantics: a request that can never run is answered here, before it costs device time:
 * {@code prompt_too_long} when the prompt does not leave room for one generated token in the
 * sequence length, {@code invalid_request} for parameters or chat roles the model refuses.
 */
public final class Prefetch {

  /**
   * Where a later cache issue looks up KV-cache prefixes (L1 -> L2 -> L3) for a tokenized prompt,
   * so that the compute stage can skip prefilling the blocks that are found. Called on the prefetch
   * executor for every accepted request.
   */
  @FunctionalInterface
  public interface PrefixLookup {
    /**
     * @return how many leading prompt tokens are already cached (a multiple of the block size)
     */
    int cachedPrefixTokens(int[] promptTokens);

    PrefixLookup NONE = tokens -> 0;
  }

  /** A tokenized request ready for the device, or the reason it cannot run. */
  public record Prepared(
      PipelineRequest request, int[] tokens, int cachedPrefix, PipelineEvent.Failed rejected) {}

  private final Tokenizer tokenizer;
  private final ChatTemplate template;
  private final int maxSeqLen;
  private final int vocab;
  private final PrefixLookup prefixes;

  public Prefetch(
      Tokenizer tokenizer, ChatTemplate template, int maxSeqLen, int vocab, PrefixLookup prefixes) {
    this.tokenizer = tokenizer;
    this.template = template;
    this.maxSeqLen = maxSeqLen;
    this.vocab = vocab;
    this.prefixes = prefixes;
  }

  /** Templates, tokenizes and validates one request. */
  public Prepared prepare(PipelineRequest r) {
    int[] tokens;
    try {
      r.params().validateFor(vocab);
      tokens = tokenize(r);
    } catch (ChatTemplateException | IllegalArgumentException e) {
      return new Prepared(
          r, null, 0, new PipelineEvent.Failed("invalid_request", e.getMessage(), 0));
    }
    if (tokens.length == 0) {
      return new Prepared(
          r, null, 0, new PipelineEvent.Failed("invalid_request", "the prompt is empty", 0));
    }
    if (tokens.length >= maxSeqLen) {
      return new Prepared(
          r,
          null,
          0,
          new PipelineEvent.Failed(
              "prompt_too_long",
              "the prompt has "
                  + tokens.length
                  + " tokens; this model serves at most "
                  + (maxSeqLen - 1)
                  + " prompt tokens",
              0));
    }
    // ---- Prefix-cache hook (a later cache issue): look the prompt's leading blocks up in the
    // KV-cache tiers here; the engine prefills only what is not found. Today nothing is cached.
    int cached = prefixes.cachedPrefixTokens(tokens);
    return new Prepared(r, tokens, cached, null);
  }

  private int[] tokenize(PipelineRequest r) {
    if (r.text() != null) {
      return tokenizer.encode(r.text(), tokenizer.addsBos(), false);
    }
    if (template != null) {
      // The rendered text carries the control tokens (and BOS) as text.
      return tokenizer.encode(template.render(r.messages(), true), false, true);
    }
    // A model without a (supported) chat template: the contents joined by newlines, as plain text.
    StringBuilder sb = new StringBuilder();
    for (ChatMessage m : r.messages()) {
      if (!sb.isEmpty()) {
        sb.append('\n');
      }
      sb.append(m.content());
    }
    return tokenizer.encode(sb.toString(), tokenizer.addsBos(), false);
  }
}
