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
import org.junit.jupiter.api.Test;

/**
 * API compatibility of the packaged seed-node.jar in single-node mode, through the official {@code
 * openai} npm client and through curl. The workers are SIMULATED ({@code
 * SLUICE_WORKER_SIMULATED=on}: each generated token is "tok "), because this test is about the
 * gateway's wire format; the real engine behind the gateway (stories260K, greedy text through curl
 * and the same client) is {@link RealModelIT}. Needs {@code .ci/install.d/openai-client.sh} (npm ci
 * in seed-node/src/test/node) and curl.
 */
class OpenAiClientIT {
  static final Path NODE_DIR = Path.of("src/test/node");
  static final ObjectMapper JSON = new ObjectMapper();
  static NodeProcess seed;
  static String base;

  @BeforeAll
  static void start() throws Exception {
    int http = NodeProcess.freePort();
    seed =
        NodeProcess.start(
            "openai-seed",
            NodeProcess.SEED_JAR,
            List.of(),
            Map.of(
                "SLUICE_PORT", String.valueOf(NodeProcess.freePort()),
                "SLUICE_MANAGEMENT_PORT", String.valueOf(NodeProcess.freePort()),
                "SLUICE_HTTP_PORT", String.valueOf(http),
                "SLUICE_WORKER_SIMULATED", "on"));
    base = "http://127.0.0.1:" + http;
    await()
        .atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(500))
        .ignoreExceptions()
        .until(() -> NodeProcess.get(http, "/v1/models").body().contains("\"sim\""));
  }

  @AfterAll
  static void stop() throws Exception {
    if (seed != null) {
      seed.close();
    }
  }

  static String run(String... cmd) throws Exception {
    Process p =
        new ProcessBuilder(cmd).directory(NODE_DIR.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    return out;
  }

  @Test
  void theOfficialOpenAiClientWorksAgainstTheGateway() throws Exception {
    assumeTrue(
        Files.isDirectory(NODE_DIR.resolve("node_modules/openai")),
        "the openai npm client is not installed: run .ci/install.d/openai-client.sh");
    JsonNode r = JSON.readTree(run("node", "openai-compat.mjs", base, "sim"));
    assertThat(r.get("models").toString()).contains("sim");
    assertThat(r.at("/chat/object").asText()).isEqualTo("chat.completion");
    assertThat(r.at("/chat/content").asText()).isEqualTo("tok ".repeat(5));
    assertThat(r.at("/chat/finish_reason").asText()).isEqualTo("length");
    assertThat(r.at("/chat/usage/completion_tokens").asInt()).isEqualTo(5);
    assertThat(r.at("/stream/content").asText()).isEqualTo("tok ".repeat(5));
    assertThat(r.at("/stream/finish_reason").asText()).isEqualTo("length");
    assertThat(r.at("/stream/usage/total_tokens").asInt())
        .isEqualTo(r.at("/chat/usage/total_tokens").asInt());
    assertThat(r.at("/completion/object").asText()).isEqualTo("text_completion");
    assertThat(r.at("/completion/text").asText()).isEqualTo("tok ".repeat(3));
    assertThat(r.at("/completionStream/text").asText()).isEqualTo("tok ".repeat(3));
    // Errors surface as the client's typed errors with OpenAI's fields and our headers.
    assertThat(r.at("/errors/badTemperature/class").asText()).isEqualTo("UnprocessableEntityError");
    assertThat(r.at("/errors/badTemperature/param").asText()).isEqualTo("temperature");
    assertThat(r.at("/errors/unknownModel/status").asInt()).isEqualTo(404);
    assertThat(r.at("/errors/unknownModel/code").asText()).isEqualTo("model_not_found");
    assertThat(r.at("/errors/unmeetableDeadline/status").asInt()).isEqualTo(503);
    assertThat(r.at("/errors/unmeetableDeadline/reason").asText()).isEqualTo("deadline_unmeetable");
    assertThat(r.at("/errors/unmeetableDeadline/retryAfter").asInt()).isPositive();
  }

  @Test
  void curlStreamsServerSentEvents() throws Exception {
    assumeTrue(Files.isExecutable(Path.of("/usr/bin/curl")), "curl is not installed");
    String body =
        "{\"model\":\"sim\",\"max_tokens\":4,\"stream\":true,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    String out =
        run(
            "curl",
            "-sN",
            "-i",
            base + "/v1/chat/completions",
            "-H",
            "Content-Type: application/json",
            "-d",
            body);
    assertThat(out).startsWith("HTTP/1.1 200 OK");
    assertThat(out).containsIgnoringCase("content-type: text/event-stream");
    assertThat(out).contains("\"object\":\"chat.completion.chunk\"");
    assertThat(out).contains("\"finish_reason\":\"length\"");
    assertThat(out.stripTrailing()).endsWith("data: [DONE]");
    String refused =
        run(
            "curl",
            "-s",
            "-i",
            base + "/v1/chat/completions",
            "-H",
            "Content-Type: application/json",
            "-H",
            "X-Sluice-Deadline-Ms: 100",
            "-d",
            "{\"model\":\"sim\",\"max_tokens\":4000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertThat(refused).startsWith("HTTP/1.1 503");
    assertThat(refused).containsIgnoringCase("retry-after: ");
    assertThat(refused).containsIgnoringCase("x-sluice-reason: deadline_unmeetable");
  }
}
