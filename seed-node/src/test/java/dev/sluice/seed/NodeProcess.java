package dev.sluice.seed;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A Sluice jar running as a separate JVM for the integration tests: small heap, the project's JVM
 * flags, output kept in memory and in {@code target/it-logs/<name>.log}, and the membership lines
 * (unreachable, downed, removed) echoed to the test's own output.
 */
final class NodeProcess implements AutoCloseable {
  static final Path SEED_JAR =
      Path.of(System.getProperty("sluice.seed.jar", "target/seed-node.jar"));
  static final Path WORKER_JAR =
      Path.of(System.getProperty("sluice.worker.jar", "../cluster-node/target/cluster-node.jar"));
  private static final String JAVA =
      System.getProperty(
          "sluice.java", Path.of(System.getProperty("java.home"), "bin", "java").toString());
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private static final ObjectMapper JSON = new ObjectMapper();

  final String name;
  final Process process;
  final List<String> lines = new CopyOnWriteArrayList<>();
  private final Thread pump;

  private NodeProcess(String name, Process process, Path log) throws IOException {
    this.name = name;
    this.process = process;
    PrintWriter out = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8), true);
    this.pump =
        Thread.ofPlatform()
            .daemon()
            .name("pump-" + name)
            .start(
                () -> {
                  try (BufferedReader r =
                          new BufferedReader(
                              new InputStreamReader(
                                  process.getInputStream(), StandardCharsets.UTF_8));
                      out) {
                    String line;
                    while ((line = r.readLine()) != null) {
                      lines.add(line);
                      out.println(line);
                      if (line.contains("Member unreachable")
                          || line.contains("Member downed")
                          || line.contains("Member removed")
                          || line.contains("SBR took decision")) {
                        System.out.println("[" + name + "] " + line);
                      }
                    }
                  } catch (IOException e) {
                    // The process ended.
                  }
                });
  }

  /** Starts {@code java ... -jar jar args} with extra system properties and environment. */
  static NodeProcess start(
      String name, Path jar, List<String> sysProps, Map<String, String> env, String... args)
      throws IOException {
    assertThat(jar).as("built jar (run after `package`)").isRegularFile();
    List<String> cmd = new ArrayList<>();
    cmd.add(JAVA);
    cmd.add("-Xmx256m");
    cmd.add("-XX:+UseSerialGC");
    cmd.add("-XX:TieredStopAtLevel=1");
    cmd.add("--add-modules=jdk.incubator.vector");
    cmd.add("--enable-native-access=ALL-UNNAMED");
    cmd.add("--sun-misc-unsafe-memory-access=allow");
    cmd.addAll(sysProps);
    cmd.add("-jar");
    cmd.add(jar.toString());
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    // Nothing from the developer's environment may change what the test starts.
    pb.environment().keySet().removeIf(k -> k.startsWith("SLUICE_"));
    // Worker-role nodes load a model before /ready: the local stories260K when the test data is
    // there, else no worker at all (these tests never download).
    String data = System.getProperty("sluice.data.dir", "");
    Path model = Path.of(data.isBlank() ? "/nonexistent" : data, "models", "stories260K.gguf");
    if (Files.isRegularFile(model)) {
      pb.environment().put("SLUICE_MODEL", model.toString());
      pb.environment().put("SLUICE_THREADS", "1");
      // These JVMs stop at C1 (above), where the kernels never get faster: a warm-up would only
      // spend its whole budget. A test that runs C2 turns it back on through env.
      pb.environment().put("SLUICE_WARM_UP", "0s");
    } else {
      pb.environment().put("SLUICE_CPU_SLOTS", "0");
    }
    pb.environment().putAll(env);
    Path logs = Path.of("target", "it-logs");
    Files.createDirectories(logs);
    return new NodeProcess(name, pb.start(), logs.resolve(name + ".log"));
  }

  /** Waits for the process to exit and returns its status. */
  int exitCode(Duration timeout) throws InterruptedException {
    assertThat(process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS))
        .as(name + " exits within " + timeout)
        .isTrue();
    pump.join(5000);
    return process.exitValue();
  }

  String output() {
    return String.join("\n", lines);
  }

  /** SIGKILL: the process gets no chance to leave the cluster. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(10, TimeUnit.SECONDS);
  }

  /** SIGTERM: coordinated shutdown, the node leaves the cluster. */
  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      process.destroy();
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  /** GET a management or API path; status -1 when nothing answers yet. */
  static Response get(int port, String path) {
    try {
      HttpResponse<String> r =
          HTTP.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                  .timeout(Duration.ofSeconds(5))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      return new Response(r.statusCode(), r.body());
    } catch (IOException e) {
      return new Response(-1, e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Response(-1, e.toString());
    }
  }

  /** {@code /cluster/members} of the node whose management port is {@code port}, as JSON. */
  static JsonNode members(int port) throws IOException {
    Response r = get(port, "/cluster/members");
    assertThat(r.status()).as("GET /cluster/members on " + port + ": " + r.body()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  /** Addresses of the members whose status is Up, as seen by the node at {@code port}. */
  static List<String> upMembers(JsonNode members) {
    List<String> up = new ArrayList<>();
    for (JsonNode m : members.get("members")) {
      if ("Up".equals(m.get("status").asText())) {
        up.add(m.get("node").asText());
      }
    }
    return up;
  }

  static List<String> allMembers(JsonNode members) {
    List<String> all = new ArrayList<>();
    members.get("members").forEach(m -> all.add(m.get("node").asText()));
    return all;
  }

  /** A port free for both TCP and UDP on loopback right now. */
  static int freePort() throws IOException {
    for (int attempt = 0; attempt < 50; attempt++) {
      int port;
      try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
        port = s.getLocalPort();
      }
      try (DatagramSocket d = new DatagramSocket(null)) {
        d.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        return port;
      } catch (IOException e) {
        // Taken for UDP: try another.
      }
    }
    throw new IOException("no free port");
  }

  record Response(int status, String body) {}
}
