package dev.sluice.seed.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.sluice.node.metrics.NodeMetrics;
import dev.sluice.node.worker.WorkerProtocol;
import dev.sluice.node.worker.WorkerProtocol.LoadReport;
import dev.sluice.seed.gateway.FakeWorker.Mode;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The gateway's HTTP routes against in-test {@link FakeWorker}s (test doubles speaking
 * WorkerProtocol): OpenAI shapes, SSE framing, every error status with its headers, retry-once on a
 * lost worker, the SSE error event after streaming began, and Cancel on client disconnect.
 */
class GatewayRoutesTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static ActorTestKit kit;
  static Gateway gateway;
  static Gateway authGateway;
  static String base;
  static String authBase;
  static final Map<String, FakeWorker> fakes = new HashMap<>();
  static final Map<String, ActorRef<WorkerProtocol.Command>> refs = new HashMap<>();
  static final HttpClient http = HttpClient.newHttpClient();
  static final List<String> HELLO = List.of("Hello", ",", " world", "!");

  static Config config(String extra) {
    return ConfigFactory.parseString(
            extra
                + """

                pekko.actor.provider = local
                pekko.actor.serialize-messages = on
                pekko.loglevel = WARNING
                sluice.gateway.http.port = 0
                sluice.gateway.limits.max-body-size = 4KiB
                sluice.gateway.limits.max-tokens = 512
                sluice.gateway.limits.max-prompt-tokens = 1000
                sluice.gateway.worker.stale-after = 1h
                sluice.gateway.worker.accept-timeout = 2s
                sluice.gateway.http.sse-keep-alive = 200ms
                sluice.admission.tenants {
                  small { priority = sheddable, tokens-per-second = 1, burst-tokens = 300 }
                }
                """)
        .withFallback(ConfigFactory.load())
        .resolve();
  }

  static String start(Gateway g) throws Exception {
    var binding = g.api().start().toCompletableFuture().get();
    return "http://127.0.0.1:" + binding.localAddress().getPort();
  }

  static void worker(String id, String model, Mode mode, long queuedDecode, Gateway... gs) {
    FakeWorker f = new FakeWorker(mode, HELLO);
    fakes.put(id, f);
    refs.put(id, kit.spawn(f.behavior(), id));
    for (Gateway g : gs) {
      g.admission()
          .pool()
          .onReport(
              new LoadReport(
                  id,
                  "addr-" + id,
                  model,
                  true,
                  0,
                  8,
                  0,
                  0,
                  queuedDecode,
                  100,
                  100,
                  16,
                  1000,
                  100,
                  0),
              System.currentTimeMillis());
    }
  }

  @BeforeAll
  static void setUp() throws Exception {
    Config c = config("");
    kit = ActorTestKit.create("gateway-test", c);
    gateway =
        Gateway.create(
            kit.system(), c, GatewaySettings.fromConfig(c, "127.0.0.1"), id -> refs.get(id));
    Config ac =
        config(
            """
            sluice.gateway.auth.enabled = on
            sluice.gateway.auth.keys { "sk-small" = "small", "sk-big" = "big" }
            """);
    authGateway =
        Gateway.create(
            kit.system(), ac, GatewaySettings.fromConfig(ac, "127.0.0.1"), id -> refs.get(id));
    base = start(gateway);
    authBase = start(authGateway);
    worker("tiny-0", "tiny", Mode.NORMAL, 0, gateway, authGateway);
    // Retry-once: the less loaded worker fails retryably, the other one serves.
    worker("flaky-bad", "flaky", Mode.FAIL_RETRYABLE, 0, gateway);
    worker("flaky-good", "flaky", Mode.NORMAL, 100, gateway);
    worker("silent-bad", "silent", Mode.SILENT, 0, gateway);
    worker("silent-good", "silent", Mode.NORMAL, 100, gateway);
    worker("dies-0", "dies", Mode.DIE_AFTER_FIRST_CHUNK, 0, gateway);
    worker("mute-0", "mute", Mode.MUTE, 0, gateway);
    worker("restart-bad", "restart", Mode.DIE_AFTER_FIRST_CHUNK, 0, gateway);
    worker("restart-good", "restart", Mode.NORMAL, 100, gateway);
    worker("hold-0", "hold", Mode.HOLD, 0, gateway, authGateway);
    gateway
        .admission()
        .pool()
        .onReport(
            new LoadReport(
                "ghost-0", "addr-ghost", "ghost", false, 0, 8, 0, 0, 0, 0, 0, 16, 0, 0, 0),
            System.currentTimeMillis());
  }

  @AfterAll
  static void tearDown() {
    kit.shutdownTestKit();
  }

  static HttpResponse<String> post(String url, String body, String... headers) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(url))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static String chat(String model, boolean stream) {
    return "{\"model\":\""
        + model
        + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello\"}],\"stream\":"
        + stream
        + "}";
  }

  /** The data payloads of an SSE body, checking the framing on the way. */
  static List<String> sseData(String body) {
    assertThat(body).endsWith("\n\n");
    List<String> out = new ArrayList<>();
    for (String frame : body.split("\n\n")) {
      if (frame.equals(": keep-alive")) {
        continue; // an SSE comment, ignored by clients
      }
      assertThat(frame).startsWith("data: ");
      assertThat(frame).doesNotContain("\n");
      out.add(frame.substring(6));
    }
    return out;
  }

  @Test
  void listsTheModelsOfReadyWorkers() throws Exception {
    var r =
        http.send(
            HttpRequest.newBuilder(URI.create(base + "/v1/models")).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    JsonNode j = JSON.readTree(r.body());
    assertThat(j.get("object").asText()).isEqualTo("list");
    List<String> ids = new ArrayList<>();
    j.get("data").forEach(m -> ids.add(m.get("id").asText()));
    assertThat(ids).contains("tiny", "flaky").doesNotContain("ghost");
    assertThat(j.get("data").get(0).get("object").asText()).isEqualTo("model");
    var one =
        http.send(
            HttpRequest.newBuilder(URI.create(base + "/v1/models/tiny")).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(JSON.readTree(one.body()).get("id").asText()).isEqualTo("tiny");
  }

  @Test
  void chatCompletionHasOpenAisShape() throws Exception {
    var r = post(base + "/v1/chat/completions", chat("tiny", false));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
    JsonNode j = JSON.readTree(r.body());
    assertThat(j.get("id").asText()).startsWith("chatcmpl-");
    assertThat(j.get("object").asText()).isEqualTo("chat.completion");
    assertThat(j.get("created").asLong()).isGreaterThan(1_600_000_000L);
    assertThat(j.get("model").asText()).isEqualTo("tiny");
    JsonNode c = j.get("choices").get(0);
    assertThat(c.get("index").asInt()).isZero();
    assertThat(c.get("message").get("role").asText()).isEqualTo("assistant");
    assertThat(c.get("message").get("content").asText()).isEqualTo("Hello, world!");
    assertThat(c.get("finish_reason").asText()).isEqualTo("stop");
    assertThat(c.get("logprobs").isNull()).isTrue();
    assertThat(j.get("usage").get("prompt_tokens").asInt()).isEqualTo(7);
    assertThat(j.get("usage").get("completion_tokens").asInt()).isEqualTo(4);
    assertThat(j.get("usage").get("total_tokens").asInt()).isEqualTo(11);
  }

  @Test
  void streamedChatIsServerSentEventsEndingInDone() throws Exception {
    var r = post(base + "/v1/chat/completions", chat("tiny", true));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
    List<String> data = sseData(r.body());
    assertThat(data.getLast()).isEqualTo("[DONE]");
    StringBuilder text = new StringBuilder();
    String id = null;
    for (int i = 0; i < data.size() - 1; i++) {
      JsonNode j = JSON.readTree(data.get(i));
      assertThat(j.get("object").asText()).isEqualTo("chat.completion.chunk");
      id = id == null ? j.get("id").asText() : id;
      assertThat(j.get("id").asText()).isEqualTo(id);
      JsonNode delta = j.get("choices").get(0).get("delta");
      if (i == 0) {
        assertThat(delta.get("role").asText()).isEqualTo("assistant");
      }
      if (delta.has("content")) {
        text.append(delta.get("content").asText());
      }
    }
    assertThat(text.toString()).isEqualTo("Hello, world!");
    JsonNode last = JSON.readTree(data.get(data.size() - 2));
    assertThat(last.get("choices").get(0).get("finish_reason").asText()).isEqualTo("stop");
  }

  @Test
  void textCompletionsStreamedWithUsageAndNot() throws Exception {
    var whole =
        post(base + "/v1/completions", "{\"model\":\"tiny\",\"prompt\":\"Once\",\"max_tokens\":8}");
    JsonNode j = JSON.readTree(whole.body());
    assertThat(j.get("object").asText()).isEqualTo("text_completion");
    assertThat(j.get("id").asText()).startsWith("cmpl-");
    assertThat(j.get("choices").get(0).get("text").asText()).isEqualTo("Hello, world!");
    var s =
        post(
            base + "/v1/completions",
            "{\"model\":\"tiny\",\"prompt\":[\"Once\"],\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
    List<String> data = sseData(s.body());
    assertThat(data.getLast()).isEqualTo("[DONE]");
    JsonNode usage = JSON.readTree(data.get(data.size() - 2));
    assertThat(usage.get("choices")).isEmpty();
    assertThat(usage.get("usage").get("total_tokens").asInt()).isEqualTo(11);
    StringBuilder text = new StringBuilder();
    for (String d : data.subList(0, data.size() - 2)) {
      JsonNode c = JSON.readTree(d);
      assertThat(c.get("object").asText()).isEqualTo("text_completion");
      text.append(c.get("choices").get(0).get("text").asText());
    }
    assertThat(text.toString()).isEqualTo("Hello, world!");
  }

  static Stream<Arguments> badRequests() {
    String msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
    return Stream.of(
        Arguments.of("{not json", 400, null),
        Arguments.of("[]", 400, null),
        Arguments.of("{\"messages\":[]}", 400, "model"),
        Arguments.of("{\"model\":\"tiny\"}", 400, "messages"),
        Arguments.of(
            "{\"model\":\"tiny\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
            400,
            "messages[0].role"),
        Arguments.of(
            "{\"model\":\"tiny\"," + msgs + ",\"temperature\":\"hot\"}", 400, "temperature"),
        Arguments.of("{\"model\":\"tiny\"," + msgs + ",\"temperature\":2.5}", 422, "temperature"),
        Arguments.of("{\"model\":\"tiny\"," + msgs + ",\"top_p\":0}", 422, "top_p"),
        Arguments.of(
            "{\"model\":\"tiny\"," + msgs + ",\"presence_penalty\":-3}", 422, "presence_penalty"),
        Arguments.of("{\"model\":\"tiny\"," + msgs + ",\"max_tokens\":513}", 422, "max_tokens"),
        Arguments.of(
            "{\"model\":\"tiny\"," + msgs + ",\"max_completion_tokens\":0}",
            422,
            "max_completion_tokens"),
        Arguments.of("{\"model\":\"tiny\"," + msgs + ",\"n\":2}", 422, "n"),
        Arguments.of(
            "{\"model\":\"tiny\"," + msgs + ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
            422,
            "stop"),
        Arguments.of(
            "{\"model\":\"tiny\"," + msgs + ",\"logprobs\":true,\"top_logprobs\":21}",
            422,
            "top_logprobs"),
        Arguments.of(
            "{\"model\":\"tiny\"," + msgs + ",\"tools\":[{\"type\":\"function\"}]}", 400, "tools"),
        Arguments.of(
            "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\""
                + "x".repeat(3500)
                + "\"}]}",
            422,
            "messages"),
        Arguments.of("{\"model\":\"nope\"," + msgs + "}", 404, "model"));
  }

  @ParameterizedTest
  @MethodSource("badRequests")
  void everyInvalidRequestGetsAnExactStatusAndAnOpenAiErrorObject(
      String body, int status, String param) throws Exception {
    var r = post(base + "/v1/chat/completions", body);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
    JsonNode e = JSON.readTree(r.body()).get("error");
    assertThat(e.get("message").asText()).isNotBlank();
    assertThat(e.get("type").asText()).isNotBlank();
    assertThat(e.has("code")).isTrue();
    assertThat(e.has("param")).isTrue();
    if (param != null) {
      assertThat(e.get("param").asText()).isEqualTo(param);
    }
  }

  @Test
  void oversizedBodiesAre413UnknownPaths404AndWrongMethods405() throws Exception {
    var big = post(base + "/v1/chat/completions", "{\"model\":\"" + "x".repeat(5000) + "\"}");
    assertThat(big.statusCode()).isEqualTo(413);
    assertThat(JSON.readTree(big.body()).get("error").get("code").asText())
        .isEqualTo("request_too_large");
    var unknown = post(base + "/v1/embeddings", "{}");
    assertThat(unknown.statusCode()).isEqualTo(404);
    assertThat(JSON.readTree(unknown.body()).get("error").get("code").asText())
        .isEqualTo("not_found");
    var get =
        http.send(
            HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions")).build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(get.statusCode()).isEqualTo(405);
  }

  @Test
  void deadlineHeaderIsBoundsCheckedAndAnUnmeetableDeadlineIsRefusedAtOnceWith503()
      throws Exception {
    assertThat(
            post(base + "/v1/chat/completions", chat("tiny", false), "X-Sluice-Deadline-Ms", "soon")
                .statusCode())
        .isEqualTo(400);
    assertThat(
            post(base + "/v1/chat/completions", chat("tiny", false), "X-Sluice-Deadline-Ms", "5")
                .statusCode())
        .isEqualTo(422);
    // 500 tokens at the worker's 100 tokens/s take 5 s: a 1 s deadline cannot be met.
    var r =
        post(
            base + "/v1/chat/completions",
            "{\"model\":\"tiny\",\"max_tokens\":500,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
            "X-Sluice-Deadline-Ms",
            "1000");
    assertThat(r.statusCode()).isEqualTo(503);
    assertThat(r.headers().firstValue("X-Sluice-Reason")).hasValue("deadline_unmeetable");
    assertThat(r.headers().firstValue("Retry-After")).hasValue("5");
    assertThat(JSON.readTree(r.body()).get("error").get("code").asText())
        .isEqualTo("deadline_unmeetable");
  }

  /** The node's {@code /metrics} text (what the management route serves). */
  static String scrape() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create()
        .write(out, NodeMetrics.get(kit.system()).registry().scrape());
    return out.toString(StandardCharsets.UTF_8);
  }

  /** The sum of the samples of {@code name} whose labels include every {@code k="v"} given. */
  static double sample(String text, String name, String... labels) {
    double sum = 0;
    for (String line : text.split("\n")) {
      if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) {
        continue;
      }
      int close = line.lastIndexOf(' ');
      String series = line.substring(0, close);
      boolean all = true;
      for (int i = 0; i < labels.length; i += 2) {
        all &= series.contains(labels[i] + "=\"" + labels[i + 1] + "\"");
      }
      if (all) {
        sum += Double.parseDouble(line.substring(close + 1));
      }
    }
    return sum;
  }

  static double delta(String before, String after, String name, String... labels) {
    return sample(after, name, labels) - sample(before, name, labels);
  }

  @Test
  void metricsCountRequestsByStatusLatenciesAndRefusalsByReason() throws Exception {
    String before = scrape();
    String route = "/v1/chat/completions";
    assertThat(post(base + route, chat("tiny", false)).statusCode()).isEqualTo(200);
    assertThat(sseData(post(base + route, chat("tiny", true)).body())).endsWith("[DONE]");
    assertThat(post(base + route, chat("ghost", false)).statusCode()).isEqualTo(503);
    assertThat(post(base + route, chat("no-such-model", false)).statusCode()).isEqualTo(404);
    // A stream is counted when it has ended, which may be just after the client saw [DONE].
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(
            () ->
                assertThat(
                        delta(
                            before,
                            scrape(),
                            "sluice_requests_total",
                            "route",
                            route,
                            "model",
                            "tiny",
                            "status",
                            "200"))
                    .isEqualTo(2));
    String after = scrape();
    assertThat(
            delta(
                before,
                after,
                "sluice_requests_total",
                "route",
                route,
                "model",
                "ghost",
                "status",
                "503"))
        .isEqualTo(1);
    // An unknown model never becomes a label value of its own.
    assertThat(
            delta(
                before,
                after,
                "sluice_requests_total",
                "route",
                route,
                "model",
                GatewayMetrics.NO_MODEL,
                "status",
                "404"))
        .isEqualTo(1);
    assertThat(after).doesNotContain("no-such-model");
    assertThat(delta(before, after, "sluice_refusals_total", "reason", "no_worker")).isEqualTo(1);
    // Two generations of four chunks of one token: a first token each, three gaps each.
    assertThat(delta(before, after, "sluice_time_to_first_token_seconds_count", "model", "tiny"))
        .isEqualTo(2);
    assertThat(delta(before, after, "sluice_time_to_first_token_seconds_sum", "model", "tiny"))
        .isPositive();
    assertThat(delta(before, after, "sluice_inter_token_latency_seconds_count", "model", "tiny"))
        .isEqualTo(6);
    assertThat(delta(before, after, "sluice_queue_wait_seconds_count", "model", "tiny"))
        .isEqualTo(2);
    assertThat(
            delta(
                before,
                after,
                "sluice_request_duration_seconds_count",
                "route",
                route,
                "model",
                "tiny"))
        .isEqualTo(2);
    assertThat(
            delta(
                before,
                after,
                "sluice_request_duration_seconds_count",
                "route",
                route,
                "model",
                "ghost"))
        .isEqualTo(1);
  }

  @Test
  void modelWithoutAReadyWorkerIs503WithRetryAfter() throws Exception {
    var r = post(base + "/v1/chat/completions", chat("ghost", false));
    assertThat(r.statusCode()).isEqualTo(503);
    assertThat(r.headers().firstValue("Retry-After")).hasValue("5");
    assertThat(r.headers().firstValue("X-Sluice-Reason")).hasValue("no_worker");
  }

  @Test
  void apiKeysMapToTenantsWithQuotas() throws Exception {
    var none = post(authBase + "/v1/chat/completions", chat("tiny", false));
    assertThat(none.statusCode()).isEqualTo(401);
    assertThat(JSON.readTree(none.body()).get("error").get("code").asText())
        .isEqualTo("invalid_api_key");
    assertThat(
            post(
                    authBase + "/v1/chat/completions",
                    chat("tiny", false),
                    "Authorization",
                    "Bearer sk-wrong")
                .statusCode())
        .isEqualTo(401);
    assertThat(
            post(
                    authBase + "/v1/chat/completions",
                    chat("tiny", false),
                    "Authorization",
                    "Bearer sk-big")
                .statusCode())
        .isEqualTo(200);
    // Tenant "small": a 300-token bucket refilling at 1 token/s; a request is charged prompt +
    // max_tokens while it runs (the unused part comes back when it ends). One held request of
    // ~250 tokens leaves too little for a second.
    var held =
        http.sendAsync(
            HttpRequest.newBuilder(URI.create(authBase + "/v1/chat/completions"))
                .header("Authorization", "Bearer sk-small")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"hold\",\"max_tokens\":240,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> fakes.get("hold-0").received(WorkerProtocol.Generate.class).size() >= 1);
    String body =
        "{\"model\":\"tiny\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    var over = post(authBase + "/v1/chat/completions", body, "Authorization", "Bearer sk-small");
    assertThat(over.statusCode()).isEqualTo(429);
    assertThat(over.headers().firstValue("X-Sluice-Reason")).hasValue("tenant_quota");
    // The held request took ~243 of 300 tokens; this one needs ~103: ~46 s at 1 token/s.
    assertThat(Integer.parseInt(over.headers().firstValue("Retry-After").orElseThrow()))
        .isBetween(40, 50);
    assertThat(JSON.readTree(over.body()).get("error").get("type").asText())
        .isEqualTo("rate_limit_exceeded");
    // Bigger than the whole bucket: never satisfiable, said so.
    var huge =
        post(
            authBase + "/v1/chat/completions",
            "{\"model\":\"tiny\",\"max_tokens\":400,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
            "Authorization",
            "Bearer sk-small");
    assertThat(huge.statusCode()).isEqualTo(429);
    assertThat(huge.headers().firstValue("X-Sluice-Reason")).hasValue("tenant_burst");
    held.cancel(true);
  }

  @Test
  void aRetryableFailureIsRetriedOnceOnAnotherWorker() throws Exception {
    var r = post(base + "/v1/chat/completions", chat("flaky", false));
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(JSON.readTree(r.body()).get("choices").get(0).get("message").get("content").asText())
        .isEqualTo("Hello, world!");
    assertThat(fakes.get("flaky-bad").received(WorkerProtocol.Generate.class)).hasSize(1);
    assertThat(fakes.get("flaky-good").received(WorkerProtocol.Generate.class)).hasSize(1);
  }

  @Test
  void aWorkerWhoseNodeLeavesBeforeStreamingIsReplacedOnce() throws Exception {
    var pending =
        http.sendAsync(
            HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(chat("silent", true)))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> !fakes.get("silent-bad").received(WorkerProtocol.Generate.class).isEmpty());
    gateway.admission().pool().nodeGone("addr-silent-bad");
    var r = pending.get();
    assertThat(r.statusCode()).isEqualTo(200);
    List<String> data = sseData(r.body());
    assertThat(data.getLast()).isEqualTo("[DONE]");
    assertThat(String.join("", data)).contains("Hello").doesNotContain("\"error\"");
    assertThat(fakes.get("silent-good").received(WorkerProtocol.Generate.class)).hasSize(1);
    // The abandoned attempt was cancelled on the lost worker.
    assertThat(fakes.get("silent-bad").received(WorkerProtocol.Cancel.class)).hasSize(1);
  }

  @Test
  void aWorkerLostAfterStreamingBeganEndsTheStreamWithAnErrorEvent() throws Exception {
    String before = scrape();
    var pending =
        http.sendAsync(
            HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(chat("dies", true)))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> !fakes.get("dies-0").received(WorkerProtocol.Generate.class).isEmpty());
    Thread.sleep(300); // let the first chunk reach the client
    gateway.admission().pool().nodeGone("addr-dies-0");
    var r = pending.get();
    assertThat(r.statusCode()).isEqualTo(200);
    List<String> data = sseData(r.body());
    assertThat(data).doesNotContain("[DONE]");
    assertThat(String.join("", data)).contains("Hello");
    JsonNode err = JSON.readTree(data.getLast()).get("error");
    assertThat(err.get("code").asText()).isEqualTo("worker_lost");
    assertThat(err.get("message").asText()).contains("after generation began");
    // Counted with the error event's status, and not as a refusal: output had begun.
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(
            () ->
                assertThat(
                        delta(
                            before,
                            scrape(),
                            "sluice_requests_total",
                            "model",
                            "dies",
                            "status",
                            "503"))
                    .isEqualTo(1));
    assertThat(delta(before, scrape(), "sluice_refusals_total", "reason", "worker_lost")).isZero();
  }

  @Test
  void aWholeResponseWhoseWorkerIsLostMidGenerationStartsOverOnAnotherWorker() throws Exception {
    var pending =
        http.sendAsync(
            HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(chat("restart", false)))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> !fakes.get("restart-bad").received(WorkerProtocol.Generate.class).isEmpty());
    Thread.sleep(300); // let the first chunk reach the session
    gateway.admission().pool().nodeGone("addr-restart-bad");
    var r = pending.get();
    // Nothing had reached the client: the text is the second worker's alone, whole.
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
    assertThat(r.headers().firstValue(HttpApi.WORKER_HEADER)).hasValue("restart-good");
    JsonNode body = JSON.readTree(r.body());
    assertThat(body.at("/choices/0/message/content").asText()).isEqualTo("Hello, world!");
    assertThat(fakes.get("restart-good").received(WorkerProtocol.Generate.class)).hasSize(1);
    assertThat(fakes.get("restart-bad").received(WorkerProtocol.Cancel.class)).hasSize(1);
  }

  @Test
  void aClientThatDisconnectsCancelsItsSequence() throws Exception {
    String metricsBefore = scrape();
    int before = fakes.get("hold-0").received(WorkerProtocol.Cancel.class).size();
    int generates = fakes.get("hold-0").received(WorkerProtocol.Generate.class).size();
    URI u = URI.create(base);
    String body = chat("hold", true);
    try (Socket socket = new Socket(u.getHost(), u.getPort())) {
      OutputStream out = socket.getOutputStream();
      out.write(
          ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + "Content-Length: "
                  + body.length()
                  + "\r\n\r\n"
                  + body)
              .getBytes(StandardCharsets.UTF_8));
      out.flush();
      BufferedReader reader =
          new BufferedReader(
              new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
      assertThat(reader.readLine()).isEqualTo("HTTP/1.1 200 OK");
      String line;
      do {
        line = reader.readLine();
      } while (line != null && !line.contains("data: "));
      assertThat(line).contains("chat.completion.chunk");
      await()
          .atMost(Duration.ofSeconds(10))
          .until(
              () -> fakes.get("hold-0").received(WorkerProtocol.Generate.class).size() > generates);
    }
    // The socket is closed: the worker is told to stop and free the sequence.
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> fakes.get("hold-0").received(WorkerProtocol.Cancel.class).size() > before);
    // Counted as 499 (client closed); at least: another test's held request may end so too.
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(
            () ->
                assertThat(
                        delta(
                            metricsBefore,
                            scrape(),
                            "sluice_requests_total",
                            "model",
                            "hold",
                            "status",
                            "499"))
                    .isGreaterThanOrEqualTo(1));
  }

  /** Sends {@code body} on a raw socket as {@code POST path} with extra header lines. */
  static Socket rawPost(String path, String body, String protocol, String... headerLines)
      throws Exception {
    URI u = URI.create(base);
    Socket socket = new Socket(u.getHost(), u.getPort());
    StringBuilder head =
        new StringBuilder("POST " + path + " " + protocol + "\r\nHost: x\r\n")
            .append("Content-Type: application/json\r\n")
            .append("Content-Length: ")
            .append(body.getBytes(StandardCharsets.UTF_8).length)
            .append("\r\n");
    for (String h : headerLines) {
      head.append(h).append("\r\n");
    }
    OutputStream out = socket.getOutputStream();
    out.write((head + "\r\n" + body).getBytes(StandardCharsets.UTF_8));
    out.flush();
    return socket;
  }

  @Test
  void aNonStreamedRequestWhoseClientDisconnectsIsCancelledAtOnce() throws Exception {
    String metricsBefore = scrape();
    FakeWorker hold = fakes.get("hold-0");
    int cancels = hold.received(WorkerProtocol.Cancel.class).size();
    int generates = hold.received(WorkerProtocol.Generate.class).size();
    // The held worker accepts and then sends nothing: without the connection watch the request
    // would wait for its deadline while its sequence stays allocated.
    try (Socket socket = rawPost("/v1/chat/completions", chat("hold", false), "HTTP/1.1")) {
      await()
          .atMost(Duration.ofSeconds(10))
          .until(() -> hold.received(WorkerProtocol.Generate.class).size() > generates);
      assertThat(socket.getInputStream().available()).as("nothing sent before the end").isZero();
    }
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> hold.received(WorkerProtocol.Cancel.class).size() > cancels);
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(
            () ->
                assertThat(
                        delta(
                            metricsBefore,
                            scrape(),
                            "sluice_requests_total",
                            "route",
                            "/v1/chat/completions",
                            "model",
                            "hold",
                            "status",
                            "499"))
                    .isGreaterThanOrEqualTo(1));
    assertThat(
            delta(
                metricsBefore,
                scrape(),
                "sluice_requests_total",
                "route",
                "/v1/chat/completions",
                "model",
                "hold",
                "status",
                "200"))
        .isZero();
  }

  @Test
  void aStreamWhoseClientDisconnectsBeforeAWorkerAcceptedItIsCancelled() throws Exception {
    String metricsBefore = scrape();
    FakeWorker mute = fakes.get("mute-0");
    // No worker has accepted it, so no response header has been written: only the connection
    // can tell (the accept-timeout, 2 s here, would end it as 503 instead).
    try (Socket socket = rawPost("/v1/chat/completions", chat("mute", true), "HTTP/1.1")) {
      await()
          .atMost(Duration.ofSeconds(10))
          .until(() -> !mute.received(WorkerProtocol.Generate.class).isEmpty());
    }
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> !mute.received(WorkerProtocol.Cancel.class).isEmpty());
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(
            () ->
                assertThat(
                        delta(
                            metricsBefore,
                            scrape(),
                            "sluice_requests_total",
                            "model",
                            "mute",
                            "status",
                            "499"))
                    .isEqualTo(1));
    assertThat(
            delta(
                metricsBefore, scrape(), "sluice_requests_total", "model", "mute", "status", "503"))
        .isZero();
    assertThat(mute.received(WorkerProtocol.Generate.class)).hasSize(1);
  }

  @Test
  void aRequestThatAsksToCloseTheConnectionIsNotTakenForADisconnect() throws Exception {
    FakeWorker hold = fakes.get("hold-0");
    int generates = hold.received(WorkerProtocol.Generate.class).size();
    try (Socket socket =
        rawPost("/v1/chat/completions", chat("hold", false), "HTTP/1.1", "Connection: close")) {
      await()
          .atMost(Duration.ofSeconds(10))
          .until(() -> hold.received(WorkerProtocol.Generate.class).size() > generates);
      String id =
          ((WorkerProtocol.Generate) hold.received(WorkerProtocol.Generate.class).get(generates))
              .requestId();
      // The request side has ended (nothing more may come on this connection), the client waits.
      Thread.sleep(500);
      assertThat(hold.received(WorkerProtocol.Cancel.class))
          .extracting(c -> ((WorkerProtocol.Cancel) c).requestId())
          .doesNotContain(id);
    }
  }

  @Test
  void aClientThatEndsItsRequestSideStillGetsItsWholeResponse() throws Exception {
    // "Connection: close" (and HTTP/1.0) end the request side of the connection while the client
    // waits for its answer: that must not count as the client going away.
    for (String[] variant :
        List.of(new String[] {"HTTP/1.1", "Connection: close"}, new String[] {"HTTP/1.0"})) {
      String protocol = variant[0];
      String[] headers = java.util.Arrays.copyOfRange(variant, 1, variant.length);
      try (Socket socket =
          rawPost("/v1/chat/completions", chat("tiny", false), protocol, headers)) {
        socket.setSoTimeout(10_000);
        String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(answer).as(protocol).startsWith("HTTP/1.1 200 OK");
        assertThat(answer.toLowerCase(java.util.Locale.ROOT))
            .contains("content-type: application/json");
        assertThat(answer).contains("\"content\":\"Hello, world!\"");
      }
    }
  }

  @Test
  void theIdleTimeoutOutlastsTheLongestDeadlineSoAWholeResponseIsNeverCutOff() {
    // pekko-http's 60 s default closed the connection of a non-streamed request still waiting in
    // a worker's queue (the client saw no response at all); the gateway now sets its own.
    long maxDeadlineMs = gateway.admission().settings().maxDeadlineMs();
    assertThat(gateway.api().serverSettings().getTimeouts().idleTimeout().toMillis())
        .isEqualTo(maxDeadlineMs + 30_000)
        .isGreaterThan(60_000);
  }
}
