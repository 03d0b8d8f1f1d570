package dev.sluice.seed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Three JVMs: a gateway (roles seed, gateway: it hosts no workers, only a sharding proxy) and two
 * worker nodes (seed-node.jar --roles worker) running one SIMULATED worker each (the wire format
 * and the cluster path are real: Kryo over Artery, Cluster Sharding, load reports on the pub-sub
 * topic). Requests spread over both workers; {@code kill -9} of one under load loses no admitted
 * whole (non-streamed) request: each one ends with its full result, retried on the other worker
 * when its worker is lost. It runs without the model; {@link RealClusterFailoverIT} is the same
 * with the real engine, streamed requests and the greedy text.
 */
class GatewayClusterIT {
  final List<NodeProcess> started = new ArrayList<>();
  final HttpClient http = HttpClient.newHttpClient();

  @AfterEach
  void stop() throws Exception {
    for (NodeProcess p : started) {
      p.close();
    }
  }

  NodeProcess node(String name, Map<String, String> env, String... args) throws Exception {
    NodeProcess p =
        NodeProcess.start(
            name,
            NodeProcess.SEED_JAR,
            List.of(
                "-Dsluice.worker.simulated.count=1",
                "-Dsluice.worker.simulated.decode-tokens-per-second=200",
                "-Dsluice.worker.simulated.max-sequences=2"),
            env,
            args);
    started.add(p);
    return p;
  }

  CompletableFuture<HttpResponse<String>> complete(String url, int maxTokens) {
    return http.sendAsync(
        HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
            .header("Content-Type", "application/json")
            .header("X-Sluice-Deadline-Ms", "120000")
            .timeout(Duration.ofSeconds(120))
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    "{\"model\":\"sim\",\"prompt\":\"hello\",\"max_tokens\":" + maxTokens + "}"))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void requestsSpreadOverBothWorkersAndAKilledWorkerLosesNoAdmittedRequest() throws Exception {
    int seedPort = NodeProcess.freePort();
    int http = NodeProcess.freePort();
    node(
        "gw-seed",
        // The load below queues 4 requests of 200 tokens behind each worker's 2 slots on purpose
        // (~4 s of waiting); the default wait cap (max-queue-delay) would refuse them at once,
        // which is admission working (AdmissionControllerTest), not what this test is about.
        Map.of("SLUICE_MAX_QUEUE_DELAY", "0s"),
        "--roles",
        "seed,gateway",
        "--port",
        String.valueOf(seedPort),
        "--http-port",
        String.valueOf(http),
        "--management-port",
        String.valueOf(NodeProcess.freePort()));
    List<NodeProcess> workers = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      workers.add(
          node(
              "gw-worker-" + i,
              Map.of("SLUICE_WORKER_SIMULATED", "on"),
              "--roles",
              "worker",
              "--seeds",
              "127.0.0.1:" + seedPort,
              "--port",
              String.valueOf(NodeProcess.freePort()),
              "--http-port",
              String.valueOf(NodeProcess.freePort()),
              "--management-port",
              String.valueOf(NodeProcess.freePort())));
    }
    String url = "http://127.0.0.1:" + http;

    // Both workers serve: small requests end up on both (least outstanding tokens).
    Set<String> servedBy = new HashSet<>();
    await()
        .atMost(Duration.ofSeconds(90))
        .pollInterval(Duration.ofSeconds(1))
        .ignoreExceptions()
        .until(
            () -> {
              List<CompletableFuture<HttpResponse<String>>> batch = new ArrayList<>();
              for (int i = 0; i < 6; i++) {
                batch.add(complete(url, 4));
              }
              for (var f : batch) {
                HttpResponse<String> r = f.get();
                if (r.statusCode() == 200) {
                  servedBy.add(r.headers().firstValue("X-Sluice-Worker").orElseThrow());
                }
              }
              return servedBy.size() == 2;
            });

    // Load: 12 requests of 200 tokens (1 s alone, 2 slots per worker): most wait in the queues.
    List<CompletableFuture<HttpResponse<String>>> load = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      load.add(complete(url, 200));
    }
    Thread.sleep(1500);
    workers.get(0).process.destroyForcibly(); // kill -9
    for (var f : load) {
      // Bounded: a request that hangs fails here.
      HttpResponse<String> r = f.get(150, java.util.concurrent.TimeUnit.SECONDS);
      // Whole responses: the client has seen nothing before the end, so even one whose sequence
      // had started on the killed worker starts over on the survivor and completes.
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      assertThat(r.body()).contains("\"completion_tokens\":200");
    }
    // The cluster keeps serving on the surviving worker.
    HttpResponse<String> after = complete(url, 4).get();
    assertThat(after.statusCode()).as(after.body()).isEqualTo(200);
  }
}
