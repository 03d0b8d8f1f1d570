package dev.sluice.seed.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.typesafe.config.Config;
import dev.sluice.node.worker.WorkerProtocol;
import dev.sluice.node.worker.WorkerProtocol.LoadReport;
import dev.sluice.seed.gateway.FakeWorker.Mode;
import dev.sluice.seed.routing.WorkerView;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Queue accounting in tokens through the whole gateway: admission counts each prompt by its
 * estimate from the body, the worker's Accepted reports the tokenizer's count (the fake worker says
 * 7 tokens, far from the estimate of a long prompt), and whatever the mix of streamed, whole and
 * concurrent requests, the worker's queue as the gateway sees it never goes negative and returns to
 * zero once they have all finished.
 */
class QueueAccountingTest {
  static ActorTestKit kit;
  static Gateway gateway;
  static String base;
  static ActorRef<WorkerProtocol.Command> worker;
  static ActorRef<WorkerProtocol.Command> holder;
  static final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  static void setUp() throws Exception {
    Config c = GatewayRoutesTest.config("");
    kit = ActorTestKit.create("queue-accounting-test", c);
    FakeWorker fake = new FakeWorker(Mode.NORMAL, GatewayRoutesTest.HELLO);
    worker = kit.spawn(fake.behavior(), "acct-0");
    holder = kit.spawn(new FakeWorker(Mode.HOLD, GatewayRoutesTest.HELLO).behavior(), "hold-0");
    gateway =
        Gateway.create(
            kit.system(),
            c,
            GatewaySettings.fromConfig(c, "127.0.0.1"),
            id -> id.equals("acct-0") ? worker : holder);
    for (String[] w : new String[][] {{"acct-0", "acct"}, {"hold-0", "acct-hold"}}) {
      gateway
          .admission()
          .pool()
          .onReport(
              new LoadReport(w[0], "addr", w[1], true, 0, 8, 0, 0, 0, 100, 100, 16, 1000, 100, 0),
              System.currentTimeMillis());
    }
    base = GatewayRoutesTest.start(gateway);
  }

  @AfterAll
  static void tearDown() {
    kit.shutdownTestKit();
  }

  private static WorkerView view() {
    return view("acct");
  }

  private static WorkerView view(String model) {
    List<WorkerView> ready = gateway.admission().pool().ready(model, System.currentTimeMillis());
    assertThat(ready).hasSize(1);
    return ready.get(0);
  }

  @Test
  void queuedTokensNeverGoNegativeAndReturnToZero() throws Exception {
    String longPrompt = "word ".repeat(300); // estimated at ~500 tokens; the worker says 7
    List<CompletableFuture<HttpResponse<String>>> sent = new ArrayList<>();
    AtomicBoolean negative = new AtomicBoolean();
    Thread watcher =
        Thread.ofPlatform()
            .start(
                () -> {
                  while (!Thread.currentThread().isInterrupted()) {
                    WorkerView v = view();
                    if (v.queuedPrefillTokens() < 0
                        || v.queuedDecodeTokens() < 0
                        || v.requests() < 0) {
                      negative.set(true);
                    }
                    Thread.onSpinWait();
                  }
                });
    try {
      for (int i = 0; i < 24; i++) {
        String prompt = i % 3 == 0 ? longPrompt : "Say hello " + i;
        String body =
            "{\"model\":\"acct\",\"max_tokens\":"
                + (8 + i)
                + ",\"stream\":"
                + (i % 2 == 0)
                + ",\"prompt\":\""
                + prompt
                + "\"}";
        sent.add(
            http.sendAsync(
                HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body))
                    .build(),
                HttpResponse.BodyHandlers.ofString()));
      }
      for (CompletableFuture<HttpResponse<String>> f : sent) {
        HttpResponse<String> r = f.get();
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.body()).contains("Hello");
      }
      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(
              () -> {
                WorkerView v = view();
                assertThat(v.queuedPrefillTokens()).isZero();
                assertThat(v.queuedDecodeTokens()).isZero();
                assertThat(v.requests()).isZero();
              });
    } finally {
      watcher.interrupt();
      watcher.join();
    }
    assertThat(negative).as("the queue went negative at some point").isFalse();
  }

  @Test
  void theWorkersPromptCountReplacesTheEstimateAndAFailedRequestLeavesNothing() throws Exception {
    // ~500 tokens by the body's bytes; the (holding) worker accepts it as 7 tokens and then
    // never streams, so the request ends at its deadline.
    String body =
        "{\"model\":\"acct-hold\",\"max_tokens\":16,\"prompt\":\"" + "word ".repeat(300) + "\"}";
    CompletableFuture<HttpResponse<String>> f =
        http.sendAsync(
            HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .header("Content-Type", "application/json")
                .header(HttpApi.DEADLINE_HEADER, "1000")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(() -> assertThat(view("acct-hold").queuedPrefillTokens()).isEqualTo(7));
    assertThat(f.get().statusCode()).isEqualTo(503);
    await()
        .atMost(Duration.ofSeconds(5))
        .untilAsserted(
            () -> {
              WorkerView v = view("acct-hold");
              assertThat(v.queuedPrefillTokens()).isZero();
              assertThat(v.queuedDecodeTokens()).isZero();
              assertThat(v.requests()).isZero();
            });
  }
}
