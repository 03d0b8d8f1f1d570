package dev.sluice.seed.alerting;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A local HTTP receiver (JDK HttpServer on loopback, random port) that records what it is sent. */
final class Receiver implements AutoCloseable {

  /** One request as received. */
  record Request(String method, URI uri, String contentType, String authorization, String body) {}

  /** A scripted answer. */
  record Answer(int status, String body, Duration delay) {}

  private final HttpServer server;
  private final BlockingQueue<Request> requests = new LinkedBlockingQueue<>();
  private final Deque<Answer> script = new ArrayDeque<>();
  private final Answer fallback;

  Receiver(int status, String body) throws IOException {
    fallback = new Answer(status, body, Duration.ZERO);
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.createContext(
        "/",
        ex -> {
          byte[] in = ex.getRequestBody().readAllBytes();
          requests.add(
              new Request(
                  ex.getRequestMethod(),
                  ex.getRequestURI(),
                  ex.getRequestHeaders().getFirst("Content-Type"),
                  ex.getRequestHeaders().getFirst("Authorization"),
                  new String(in, StandardCharsets.UTF_8)));
          Answer a;
          synchronized (script) {
            a = script.isEmpty() ? fallback : script.pollFirst();
          }
          try {
            Thread.sleep(a.delay().toMillis());
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          byte[] out = a.body().getBytes(StandardCharsets.UTF_8);
          ex.sendResponseHeaders(a.status(), out.length);
          ex.getResponseBody().write(out);
          ex.close();
        });
    server.start();
  }

  /** Answers the next requests with these, then with the fallback. */
  Receiver then(int status, String body, Duration delay) {
    synchronized (script) {
      script.addLast(new Answer(status, body, delay));
    }
    return this;
  }

  String url(String pathAndQuery) {
    return "http://127.0.0.1:" + server.getAddress().getPort() + pathAndQuery;
  }

  /** The next request, waiting at most {@code timeout}; null if none came. */
  Request next(Duration timeout) throws InterruptedException {
    return requests.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  int pending() {
    return requests.size();
  }

  @Override
  public void close() {
    server.stop(0);
    ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
  }
}
