package dev.sluice.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The resolver against a loopback HTTP server standing in for the Hugging Face hub. */
class ModelResolverTest {
  private static final String PATH = "/owner/repo/resolve/main/dir/model.gguf";
  private static final String ADDRESS = "hf://owner/repo/dir/model.gguf";

  @TempDir Path tmp;
  private HttpServer server;
  private byte[] content;
  private String sha;
  private final List<String> ranges = new CopyOnWriteArrayList<>();
  private final AtomicInteger requests = new AtomicInteger();
  private volatile int cutFirstResponsesAt = -1;
  private volatile int cutsLeft;
  private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();

  @BeforeEach
  void start() throws Exception {
    content = new byte[300_000];
    new Random(1).nextBytes(content);
    sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.start();
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  private void handle(HttpExchange ex) throws IOException {
    requests.incrementAndGet();
    if (!ex.getRequestURI().getPath().equals(PATH)) {
      ex.sendResponseHeaders(404, -1);
      ex.close();
      return;
    }
    String range = ex.getRequestHeaders().getFirst("Range");
    ranges.add(String.valueOf(range));
    int from = 0;
    if (range != null) {
      from = Integer.parseInt(range.substring("bytes=".length(), range.length() - 1));
      ex.getResponseHeaders()
          .add(
              "Content-Range", "bytes " + from + "-" + (content.length - 1) + "/" + content.length);
      ex.sendResponseHeaders(206, content.length - from);
    } else {
      ex.sendResponseHeaders(200, content.length);
    }
    OutputStream out = ex.getResponseBody();
    int end = content.length;
    if (cutsLeft > 0) {
      cutsLeft--;
      end = Math.min(end, from + cutFirstResponsesAt);
    }
    out.write(content, from, end - from);
    out.flush();
    if (end < content.length) {
      // Drop the connection mid-body, as a flaky network would.
      ex.close();
      return;
    }
    out.close();
  }

  private ModelResolver resolver() {
    URI hub = URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    return new ModelResolver(tmp.resolve("cache"), hub, new PrintStream(stderr, true));
  }

  @Test
  void downloadsOnceVerifiesAndReusesTheCache() throws Exception {
    ModelResolver r = resolver();
    Path p = r.resolve(ADDRESS + "#sha256=" + sha);
    assertThat(Files.readAllBytes(p)).isEqualTo(content);
    assertThat(p).isEqualTo(tmp.resolve("cache/huggingface/owner/repo/dir/model.gguf"));
    assertThat(stderr.toString()).contains("model.gguf [").contains("100%");
    int before = requests.get();
    assertThat(r.resolve(ADDRESS)).isEqualTo(p);
    assertThat(requests.get()).isEqualTo(before);
  }

  @Test
  void resumesACutDownloadWithARangeRequest() throws Exception {
    cutFirstResponsesAt = 100_000;
    cutsLeft = 1;
    Path p = resolver().resolve(ADDRESS + "#sha256=" + sha);
    assertThat(Files.readAllBytes(p)).isEqualTo(content);
    assertThat(ranges).hasSize(2);
    assertThat(ranges.get(0)).isEqualTo("null");
    assertThat(ranges.get(1)).matches("bytes=\\d+-");
    assertThat(Integer.parseInt(ranges.get(1).replaceAll("\\D", ""))).isPositive();
    assertThat(stderr.toString()).contains("resuming");
  }

  @Test
  void resumesAPartialFileLeftByAnEarlierRun() throws Exception {
    ModelResolver r = resolver();
    Path target = r.cachePath(ADDRESS);
    Files.createDirectories(target.getParent());
    Files.write(target.resolveSibling("model.gguf.part"), java.util.Arrays.copyOf(content, 12345));
    Files.writeString(target.resolveSibling("model.gguf.sha256"), sha + "  model.gguf\n");
    Path p = r.resolve(ADDRESS);
    assertThat(Files.readAllBytes(p)).isEqualTo(content);
    assertThat(ranges).containsExactly("bytes=12345-");
  }

  @Test
  void shaMismatchFailsAndRemovesTheDownload() throws Exception {
    ModelResolver r = resolver();
    String wrong = "0".repeat(64);
    assertThatThrownBy(() -> r.resolve(ADDRESS + "#sha256=" + wrong))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("sha256 mismatch")
        .hasMessageContaining(wrong)
        .hasMessageContaining(sha);
    Path target = r.cachePath(ADDRESS);
    assertThat(target).doesNotExist();
    assertThat(target.resolveSibling("model.gguf.part")).doesNotExist();
  }

  @Test
  void notFoundNamesTheAddress() {
    assertThatThrownBy(() -> resolver().resolve("hf://owner/repo/missing.gguf"))
        .isInstanceOf(NoSuchFileException.class)
        .hasMessageContaining("HTTP 404")
        .hasMessageContaining("/owner/repo/resolve/main/missing.gguf");
  }

  @Test
  void offlineSaysHowToPassALocalFile() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    ModelResolver r =
        new ModelResolver(
            tmp.resolve("cache"), URI.create("http://127.0.0.1:" + port), new PrintStream(stderr));
    assertThatThrownBy(() -> r.resolve(ModelResolver.DEFAULT_MODEL))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("Offline? Pass a local file instead: --model /path/to/model.gguf");
  }

  @Test
  void addressesMapToTheHubAndLocalPathsAreChecked() throws Exception {
    ModelResolver r =
        new ModelResolver(tmp, URI.create("https://huggingface.co/"), new PrintStream(stderr));
    assertThat(r.downloadUri(ModelResolver.DEFAULT_MODEL).toString())
        .isEqualTo(
            "https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf");
    assertThat(ModelResolver.parse(ModelResolver.DEFAULT_MODEL).sha256())
        .isEqualTo("270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");
    assertThatThrownBy(() -> r.resolve("hf://only-owner"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("is not hf://OWNER/REPO/PATH");
    assertThatThrownBy(() -> r.resolve("hf://o/r/x.gguf#md5=abc")).hasMessageContaining("#sha256=");
    assertThatThrownBy(() -> r.resolve(tmp.resolve("nope.gguf").toString()))
        .isInstanceOf(NoSuchFileException.class)
        .hasMessageContaining("model file not found");
    Path local = Files.writeString(tmp.resolve("m.gguf"), "x");
    assertThat(r.resolve(local.toString())).isEqualTo(local);
  }
}
