package dev.sluice.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class SamplingParamsTest {

  private static void rejects(SamplingParams.Builder b, String param, String message) {
    assertThatThrownBy(b::build)
        .isInstanceOf(SamplingParamsException.class)
        .hasMessage(message)
        .extracting(e -> ((SamplingParamsException) e).parameter())
        .isEqualTo(param);
  }

  @Test
  void defaultsAreValid() {
    SamplingParams p = SamplingParams.builder().build();
    assertThat(p.temperature()).isEqualTo(1f);
    assertThat(p.greedy()).isFalse();
    assertThat(p.hasPenalties()).isFalse();
    assertThat(SamplingParams.greedy(5).greedy()).isTrue();
  }

  @Test
  void outOfRangeValuesNameTheParameter() {
    rejects(
        SamplingParams.builder().temperature(2.5f),
        "temperature",
        "temperature must be between 0 and 2, got 2.5");
    rejects(
        SamplingParams.builder().temperature(Float.NaN),
        "temperature",
        "temperature must be between 0 and 2, got NaN");
    rejects(
        SamplingParams.builder().topK(-1), "top_k", "top_k must be >= 0 (0 disables it), got -1");
    rejects(SamplingParams.builder().topP(0f), "top_p", "top_p must be in (0, 1], got 0.0");
    rejects(SamplingParams.builder().minP(1.5f), "min_p", "min_p must be between 0 and 1, got 1.5");
    rejects(
        SamplingParams.builder().repetitionPenalty(0f),
        "repetition_penalty",
        "repetition_penalty must be in (0, 10] (1 disables it), got 0.0");
    rejects(
        SamplingParams.builder().penaltyWindow(-2),
        "penalty_window",
        "penalty_window must be >= -1 (-1: all tokens, 0: none), got -2");
    rejects(
        SamplingParams.builder().presencePenalty(-3f),
        "presence_penalty",
        "presence_penalty must be between -2 and 2, got -3.0");
    rejects(
        SamplingParams.builder().frequencyPenalty(2.1f),
        "frequency_penalty",
        "frequency_penalty must be between -2 and 2, got 2.1");
    rejects(SamplingParams.builder().maxTokens(0), "max_tokens", "max_tokens must be >= 1, got 0");
    rejects(
        SamplingParams.builder().stop(List.of("a", "b", "c", "d", "e")),
        "stop",
        "stop may hold at most 4 strings, got 5");
    rejects(SamplingParams.builder().stop(List.of("")), "stop", "stop strings must not be empty");
    rejects(
        SamplingParams.builder().stopTokenIds(List.of(-5)),
        "stop_token_ids",
        "stop_token_ids must be >= 0, got -5");
    rejects(
        SamplingParams.builder().logprobs(21),
        "logprobs",
        "logprobs must be between 0 and 20 (or -1 for none), got 21");
  }

  @Test
  void stopTokenIdsAreCheckedAgainstTheVocabulary() {
    SamplingParams p = SamplingParams.builder().stopTokenIds(List.of(10, 600)).build();
    assertThatThrownBy(() -> p.validateFor(512))
        .isInstanceOf(SamplingParamsException.class)
        .hasMessage("stop_token_ids: 600 is not below the vocabulary size 512");
    assertThat(p.validateFor(1000)).isSameAs(p);
  }
}
