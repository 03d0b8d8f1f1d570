package dev.sluice.seed.gateway;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.node.worker.WorkerProtocol.ChunkLogprob;
import dev.sluice.node.worker.WorkerProtocol.TokenLogprob;
import java.util.List;

/**
 * OpenAI's response shapes: {@code chat.completion}, {@code chat.completion.chunk}, {@code
 * text_completion} (streamed and not), usage, log-probabilities and error objects.
 */
final class OpenAiJson {
  static final ObjectMapper JSON = new ObjectMapper();

  private OpenAiJson() {}

  /** An error body: {@code {"error":{"message","type","param","code"}}}. */
  static ObjectNode error(ApiError e) {
    ObjectNode body = JSON.createObjectNode();
    ObjectNode o = body.putObject("error");
    o.put("message", e.message());
    o.put("type", e.type());
    if (e.param() == null) {
      o.putNull("param");
    } else {
      o.put("param", e.param());
    }
    o.put("code", e.code());
    return body;
  }

  private static ObjectNode head(CompletionRequest r, String id, long created, boolean chunk) {
    ObjectNode o = JSON.createObjectNode();
    o.put("id", id);
    o.put(
        "object",
        r.chat() ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
    o.put("created", created);
    o.put("model", r.model());
    o.put("system_fingerprint", "sluice");
    return o;
  }

  static ObjectNode usage(int prompt, int completion) {
    ObjectNode u = JSON.createObjectNode();
    u.put("prompt_tokens", prompt);
    u.put("completion_tokens", completion);
    u.put("total_tokens", prompt + completion);
    return u;
  }

  /** A whole (non-streamed) response. */
  static ObjectNode completion(
      CompletionRequest r,
      String id,
      long created,
      String text,
      List<ChunkLogprob> logprobs,
      String finishReason,
      int promptTokens,
      int completionTokens) {
    ObjectNode o = head(r, id, created, false);
    ObjectNode c = o.putArray("choices").addObject();
    c.put("index", 0);
    if (r.chat()) {
      ObjectNode m = c.putObject("message");
      m.put("role", "assistant");
      m.put("content", text);
      m.putNull("refusal");
    } else {
      c.put("text", text);
    }
    logprobs(c, r, logprobs, 0);
    c.put("finish_reason", finishReason);
    o.set("usage", usage(promptTokens, completionTokens));
    return o;
  }

  /** One streamed chunk; {@code text} null for the opening (role) or closing chunk. */
  static ObjectNode chunk(
      CompletionRequest r,
      String id,
      long created,
      String text,
      boolean opening,
      List<ChunkLogprob> logprobs,
      int textOffset,
      String finishReason) {
    ObjectNode o = head(r, id, created, true);
    ObjectNode c = o.putArray("choices").addObject();
    c.put("index", 0);
    if (r.chat()) {
      ObjectNode d = c.putObject("delta");
      if (opening) {
        d.put("role", "assistant");
        d.put("content", "");
      } else if (text != null) {
        d.put("content", text);
      }
    } else {
      c.put("text", text == null ? "" : text);
    }
    logprobs(c, r, logprobs, textOffset);
    if (finishReason == null) {
      c.putNull("finish_reason");
    } else {
      c.put("finish_reason", finishReason);
    }
    if (r.includeUsage()) {
      o.putNull("usage");
    }
    return o;
  }

  /** The usage chunk of {@code stream_options.include_usage}: no choices. */
  static ObjectNode usageChunk(CompletionRequest r, String id, long created, int p, int c) {
    ObjectNode o = head(r, id, created, true);
    o.putArray("choices");
    o.set("usage", usage(p, c));
    return o;
  }

  private static void logprobs(
      ObjectNode choice, CompletionRequest r, List<ChunkLogprob> lps, int textOffset) {
    if (!r.logprobs() || lps == null || lps.isEmpty()) {
      choice.putNull("logprobs");
      return;
    }
    ObjectNode l = choice.putObject("logprobs");
    if (r.chat()) {
      ArrayNode content = l.putArray("content");
      for (ChunkLogprob cl : lps) {
        ObjectNode t = token(content.addObject(), cl.chosen());
        ArrayNode top = t.putArray("top_logprobs");
        for (TokenLogprob alt : cl.top()) {
          token(top.addObject(), alt);
        }
      }
    } else {
      ArrayNode tokens = l.putArray("tokens");
      ArrayNode tlp = l.putArray("token_logprobs");
      ArrayNode top = l.putArray("top_logprobs");
      ArrayNode off = l.putArray("text_offset");
      int offset = textOffset;
      for (ChunkLogprob cl : lps) {
        tokens.add(cl.chosen().token());
        tlp.add(cl.chosen().logprob());
        ObjectNode alts = top.addObject();
        for (TokenLogprob alt : cl.top()) {
          alts.put(alt.token(), alt.logprob());
        }
        off.add(offset);
        offset += cl.chosen().token().length();
      }
    }
  }

  private static ObjectNode token(ObjectNode o, TokenLogprob t) {
    o.put("token", t.token());
    o.put("logprob", t.logprob());
    if (t.bytes() == null) {
      o.putNull("bytes");
    } else {
      ArrayNode b = o.putArray("bytes");
      for (byte x : t.bytes()) {
        b.add(x & 0xff);
      }
    }
    return o;
  }
}
