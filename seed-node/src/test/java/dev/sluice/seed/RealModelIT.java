package dev.sluice.seed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * End to end with the REAL engine: the packaged seed-node.jar in single-node mode serving the
 * pretrained stories260K model on CPU, asked through curl and through the official {@code openai}
 * npm client for greedy (temperature 0) completions and chat completions, streamed and not. The
 * expected text is the greedy continuation that llama.cpp and llama2.c produce for "Once upon a
 * time" (models/README.md in the test data). Needs SLUICE_DATA_DIR (models/stories260K.gguf), curl,
 * and for the client test {@code .ci/install.d/openai-client.sh}.
 */
class RealModelIT {
  static final Path NODE_DIR = Path.of("src/test/node");
  static final ObjectMapper JSON = new ObjectMapper();
  static final String PROMPT = "Once upon a time";
  static final int MAX_TOKENS = 57;

  /** Greedy continuation of {@link #PROMPT}: exactly {@link #MAX_TOKENS} tokens. */
  static final String EXPECTED =
      ", there was a little girl named Lily. She loved to play outside in the park. One day, she"
          + " saw a big, red ball. She wanted to play with it, but it was too high.";

  static NodeProcess seed;
  static String base;
  static String missing;

  @BeforeAll
  static void start() throws Exception {
    String data = System.getProperty("sluice.data.dir", "");
    Path model = Path.of(data.isBlank() ? "/nonexistent" : data, "models", "stories260K.gguf");
    // Checked here, asserted per test: an assumption failing in @BeforeAll is reported by
    // failsafe as zero tests run, without the reason.
    if (!Files.isRegularFile(model)) {
      missing = "no real model: set SLUICE_DATA_DIR to a folder holding models/stories260K.gguf";
      return;
    }
    if (!Files.isExecutable(Path.of("/usr/bin/curl"))) {
      missing = "curl is not installed";
      return;
    }
    int http = NodeProcess.freePort();
    int management = NodeProcess.freePort();
    seed =
        NodeProcess.start(
            "realmodel-seed",
            NodeProcess.SEED_JAR,
            List.of(),
            Map.of(
                "SLUICE_PORT", String.valueOf(NodeProcess.freePort()),
                "SLUICE_MANAGEMENT_PORT", String.valueOf(management),
                "SLUICE_HTTP_PORT", String.valueOf(http),
                "SLUICE_MODEL", model.toString(),
                "SLUICE_DEVICE", "cpu",
                "SLUICE_CPU_SLOTS", "1",
                "SLUICE_THREADS", "1"));
    base = "http://127.0.0.1:" + http;
    await()
        .atMost(Duration.ofSeconds(90))
        .pollInterval(Duration.ofMillis(500))
        .until(
            () -> {
              assertThat(seed.process.isAlive()).as(seed.output()).isTrue();
              return NodeProcess.get(management, "/ready").status() == 200
                  && NodeProcess.get(http, "/v1/models").body().contains("\"stories260K\"");
            });
  }

  @AfterAll
  static void stop() throws Exception {
    if (seed != null) {
      seed.close();
    }
  }

  @BeforeEach
  void needsTheModelAndCurl() {
    assumeTrue(missing == null, missing);
  }

  static String run(String... cmd) throws Exception {
    Process p =
        new ProcessBuilder(cmd).directory(NODE_DIR.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    return out;
  }

  static String curlCompletion(boolean stream) throws Exception {
    String body =
        "{\"model\":\"stories260K\",\"prompt\":\""
            + PROMPT
            + "\",\"max_tokens\":"
            + MAX_TOKENS
            + ",\"temperature\":0"
            + (stream ? ",\"stream\":true" : "")
            + "}";
    return run(
        "curl",
        "-sS",
        "-N",
        "--fail-with-body",
        base + "/v1/completions",
        "-H",
        "Content-Type: application/json",
        "-d",
        body);
  }

  @Test
  void curlCompletionIsTheGreedyContinuation() throws Exception {
    JsonNode r = JSON.readTree(curlCompletion(false));
    assertThat(r.at("/object").asText()).isEqualTo("text_completion");
    assertThat(r.at("/model").asText()).isEqualTo("stories260K");
    assertThat(r.at("/choices/0/text").asText()).isEqualTo(EXPECTED);
    assertThat(r.at("/choices/0/finish_reason").asText()).isEqualTo("length");
    // BOS + the 4 tokens of "Once upon a time".
    assertThat(r.at("/usage/prompt_tokens").asInt()).isEqualTo(5);
    assertThat(r.at("/usage/completion_tokens").asInt()).isEqualTo(MAX_TOKENS);
    assertThat(r.at("/usage/total_tokens").asInt()).isEqualTo(5 + MAX_TOKENS);
  }

  @Test
  void curlStreamedCompletionConcatenatesToTheSameText() throws Exception {
    String out = curlCompletion(true);
    StringBuilder text = new StringBuilder();
    String finish = null;
    int chunks = 0;
    for (String line : out.split("\n")) {
      if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
        continue;
      }
      JsonNode c = JSON.readTree(line.substring("data: ".length()));
      if (c.path("choices").isEmpty()) {
        continue;
      }
      chunks++;
      assertThat(c.at("/object").asText()).isEqualTo("text_completion");
      text.append(c.at("/choices/0/text").asText());
      if (c.at("/choices/0/finish_reason").isTextual()) {
        finish = c.at("/choices/0/finish_reason").asText();
      }
    }
    assertThat(text.toString()).as(out).isEqualTo(EXPECTED);
    assertThat(finish).isEqualTo("length");
    assertThat(chunks).as("streamed in several events").isGreaterThan(1);
    assertThat(out.stripTrailing()).endsWith("data: [DONE]");
  }

  @Test
  void theOfficialOpenAiClientGetsTheGreedyText() throws Exception {
    assumeTrue(
        Files.isDirectory(NODE_DIR.resolve("node_modules/openai")),
        "the openai npm client is not installed: run .ci/install.d/openai-client.sh");
    JsonNode r =
        JSON.readTree(
            run("node", "real-model.mjs", base, "stories260K", PROMPT, String.valueOf(MAX_TOKENS)));
    assertThat(r.at("/completion/object").asText()).isEqualTo("text_completion");
    assertThat(r.at("/completion/text").asText()).isEqualTo(EXPECTED);
    assertThat(r.at("/completion/finish_reason").asText()).isEqualTo("length");
    assertThat(r.at("/completion/usage/prompt_tokens").asInt()).isEqualTo(5);
    assertThat(r.at("/completion/usage/completion_tokens").asInt()).isEqualTo(MAX_TOKENS);
    assertThat(r.at("/completionStream/text").asText()).isEqualTo(EXPECTED);
    assertThat(r.at("/completionStream/finish_reason").asText()).isEqualTo("length");
    assertThat(r.at("/completionStream/usage/completion_tokens").asInt()).isEqualTo(MAX_TOKENS);
    // stories260K has no tokenizer.chat_template: the worker sends the message contents as plain
    // text (with BOS), so a one-message chat continues the prompt exactly like a completion.
    assertThat(r.at("/chat/object").asText()).isEqualTo("chat.completion");
    assertThat(r.at("/chat/role").asText()).isEqualTo("assistant");
    assertThat(r.at("/chat/content").asText()).isEqualTo(EXPECTED);
    assertThat(r.at("/chat/finish_reason").asText()).isEqualTo("length");
    assertThat(r.at("/chat/usage/prompt_tokens").asInt()).isEqualTo(5);
    assertThat(r.at("/chat/usage/completion_tokens").asInt()).isEqualTo(MAX_TOKENS);
    assertThat(r.at("/chatAgain")).isEqualTo(r.at("/chat"));
    assertThat(r.at("/chatStream/content").asText()).isEqualTo(EXPECTED);
    assertThat(r.at("/chatStream/finish_reason").asText()).isEqualTo("length");
  }
}
