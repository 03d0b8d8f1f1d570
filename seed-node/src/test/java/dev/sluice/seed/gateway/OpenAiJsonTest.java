package dev.sluice.seed.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sluice.node.worker.WorkerProtocol.ChunkLogprob;
import dev.sluice.node.worker.WorkerProtocol.TokenLogprob;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Log-probabilities in OpenAI's two shapes (chat: content[]; completions: parallel arrays). */
class OpenAiJsonTest {
  static final CompletionRequest.Limits LIMITS = new CompletionRequest.Limits(512, 16, 1000);

  static final List<ChunkLogprob> LPS =
      List.of(
          new ChunkLogprob(
              new TokenLogprob("Hi", -0.25f, "Hi".getBytes(StandardCharsets.UTF_8)),
              List.of(
                  new TokenLogprob("Hi", -0.25f, "Hi".getBytes(StandardCharsets.UTF_8)),
                  new TokenLogprob("Yo", -1.5f, "Yo".getBytes(StandardCharsets.UTF_8)))),
          new ChunkLogprob(new TokenLogprob("!", -0.5f, null), List.of()));

  static CompletionRequest parse(String json, boolean chat) throws Exception {
    return CompletionRequest.parse(OpenAiJson.JSON.readTree(json), chat, LIMITS);
  }

  @Test
  void chatLogprobsAreAContentArrayWithTopLogprobsAndBytes() throws Exception {
    CompletionRequest r =
        parse(
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"logprobs\":true,\"top_logprobs\":2}",
            true);
    assertThat(r.params().topLogprobs()).isEqualTo(2);
    JsonNode c = OpenAiJson.completion(r, "id", 1, "Hi!", LPS, "stop", 3, 2).get("choices").get(0);
    JsonNode content = c.get("logprobs").get("content");
    assertThat(content).hasSize(2);
    assertThat(content.get(0).get("token").asText()).isEqualTo("Hi");
    assertThat(content.get(0).get("logprob").asDouble()).isEqualTo(-0.25);
    assertThat(content.get(0).get("bytes").toString()).isEqualTo("[72,105]");
    assertThat(content.get(0).get("top_logprobs")).hasSize(2);
    assertThat(content.get(0).get("top_logprobs").get(1).get("token").asText()).isEqualTo("Yo");
    assertThat(content.get(1).get("bytes").isNull()).isTrue();
  }

  @Test
  void completionLogprobsAreParallelArraysWithTextOffsets() throws Exception {
    CompletionRequest r = parse("{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":2}", false);
    JsonNode lp =
        OpenAiJson.completion(r, "id", 1, "Hi!", LPS, "length", 3, 2)
            .get("choices")
            .get(0)
            .get("logprobs");
    assertThat(lp.get("tokens").toString()).isEqualTo("[\"Hi\",\"!\"]");
    assertThat(lp.get("token_logprobs").toString()).isEqualTo("[-0.25,-0.5]");
    assertThat(lp.get("top_logprobs").get(0).get("Yo").asDouble()).isEqualTo(-1.5);
    assertThat(lp.get("text_offset").toString()).isEqualTo("[0,2]");
  }

  @Test
  void withoutLogprobsTheFieldIsNull() throws Exception {
    CompletionRequest r = parse("{\"model\":\"m\",\"prompt\":\"x\"}", false);
    assertThat(r.params().topLogprobs()).isEqualTo(-1);
    assertThat(r.params().maxTokens()).isEqualTo(16);
    assertThat(
            OpenAiJson.completion(r, "id", 1, "Hi!", LPS, "stop", 3, 2)
                .get("choices")
                .get(0)
                .get("logprobs")
                .isNull())
        .isTrue();
  }

  @Test
  void samplingParametersReachTheWorkerAsGiven() throws Exception {
    CompletionRequest r =
        parse(
            "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":0,\"top_p\":0.9,\"top_k\":40,"
                + "\"min_p\":0.05,\"repetition_penalty\":1.1,\"presence_penalty\":0.5,"
                + "\"frequency_penalty\":-0.5,\"seed\":42,\"stop\":\"\\n\",\"max_tokens\":7}",
            false);
    var p = r.params();
    assertThat(p.temperature()).isZero();
    assertThat(p.topP()).isEqualTo(0.9f);
    assertThat(p.topK()).isEqualTo(40);
    assertThat(p.minP()).isEqualTo(0.05f);
    assertThat(p.repetitionPenalty()).isEqualTo(1.1f);
    assertThat(p.presencePenalty()).isEqualTo(0.5f);
    assertThat(p.frequencyPenalty()).isEqualTo(-0.5f);
    assertThat(p.hasSeed()).isTrue();
    assertThat(p.seed()).isEqualTo(42);
    assertThat(p.stop()).containsExactly("\n");
    assertThat(p.maxTokens()).isEqualTo(7);
  }
}
