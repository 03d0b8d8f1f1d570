package dev.sluice.engine;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.UnresolvedAddressException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Turns a model address into a local GGUF file: a local path as is, or {@code hf://OWNER/REPO/PATH}
 * (a file of a Hugging Face repository, branch {@code main}) downloaded once into a cache folder
 * and reused afterwards.
 *
 * <p>Downloads show a progress bar on the given stream (stderr), go to {@code FILE.part} and resume
 * from where a previous attempt stopped (HTTP Range), retrying a cut connection a few times. The
 * file gets its final name only after its sha256 matched the expected one, so a file in the cache
 * is always a verified one. The expected sha256 comes from a {@code #sha256=HEX} suffix of the
 * address, the built-in table of known models, a sidecar file {@code FILE.sha256} next to the
 * cached file, or the {@code X-Linked-Etag} header Hugging Face sends for LFS files; with none of
 * these the download is kept unverified, with a warning.
 *
 * <p>Failure semantics: everything fails with an {@link IOException} whose message says what to do:
 * a missing local file, a 404 (wrong address), a checksum mismatch (the partial file is removed),
 * or no network (pass a local file with {@code --model /path/to/model.gguf}).
 *
 * <p>Configuration: the cache folder is {@code SLUICE_MODEL_CACHE} or {@code
 * ~/.cache/sluice/models}; the hub is {@code HF_ENDPOINT} or {@code https://huggingface.co}.
 */
public final class ModelResolver {
  /** The default model of the single-node cluster and of {@code generate}. */
  public static final String DEFAULT_MODEL = "hf://ggml-org/models/tinyllamas/stories260K.gguf";

  /** sha256 of files whose content is known, by address (without suffix). */
  public static final Map<String, String> KNOWN_SHA256 =
      Map.of(DEFAULT_MODEL, "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d");

  private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
  private static final int ATTEMPTS = 4;

  private final Path cacheDir;
  private final URI endpoint;
  private final PrintStream progress;
  private final HttpClient http;

  /**
   * @param cacheDir where downloads are kept
   * @param endpoint the Hugging Face hub, e.g. {@code https://huggingface.co}
   * @param progress where the progress bar and warnings go (usually {@code System.err})
   */
  public ModelResolver(Path cacheDir, URI endpoint, PrintStream progress) {
    this.cacheDir = cacheDir;
    String e = endpoint.toString();
    this.endpoint = URI.create(e.endsWith("/") ? e.substring(0, e.length() - 1) : e);
    this.progress = progress;
    this.http =
        HttpClient.newBuilder()
            .followRedirects(HttpClient.Redirect.NORMAL)
            .connectTimeout(Duration.ofSeconds(15))
            .build();
  }

  /** A resolver configured from {@code SLUICE_MODEL_CACHE} and {@code HF_ENDPOINT}. */
  public static ModelResolver fromEnvironment(PrintStream progress) {
    String cache = System.getenv("SLUICE_MODEL_CACHE");
    Path dir =
        cache != null && !cache.isBlank()
            ? Path.of(cache)
            : Path.of(System.getProperty("user.home"), ".cache", "sluice", "models");
    String hub = System.getenv("HF_ENDPOINT");
    return new ModelResolver(
        dir, URI.create(hub != null && !hub.isBlank() ? hub : "https://huggingface.co"), progress);
  }

  public Path cacheDir() {
    return cacheDir;
  }

  /** A parsed {@code hf://} address. */
  record HubAddress(String owner, String repo, String path, String sha256, String canonical) {}

  /** True for addresses this resolver downloads (as opposed to local paths). */
  public static boolean isRemote(String address) {
    return address.startsWith("hf://");
  }

  /** The local file of {@code address}, downloading it first when needed. */
  public Path resolve(String address) throws IOException {
    if (!isRemote(address)) {
      Path p = Path.of(address);
      if (!Files.isRegularFile(p)) {
        throw new NoSuchFileException(
            address, null, "model file not found (a local path, or hf://OWNER/REPO/PATH)");
      }
      return p;
    }
    HubAddress a = parse(address);
    Path target = cachePath(address);
    if (Files.isRegularFile(target)) {
      return target; // only verified (or explicitly unverifiable) downloads get the final name
    }
    Files.createDirectories(target.getParent());
    URI uri = downloadUri(a);
    String expected = a.sha256();
    if (expected == null) {
      expected = readSidecar(target).orElse(null);
    }
    Path part = target.resolveSibling(target.getFileName() + ".part");
    IOException last = null;
    for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        String linked = download(uri, part);
        if (expected == null && linked != null) {
          expected = linked;
        }
        verifyAndMove(a.canonical(), part, target, expected);
        return target;
      } catch (ConnectException | HttpConnectTimeoutException | UnresolvedAddressException e) {
        throw offline(address, uri, target, e);
      } catch (Fatal e) {
        throw e.io;
      } catch (IOException e) {
        if (isUnreachable(e)) {
          throw offline(address, uri, target, e);
        }
        last = e;
        progress.printf("%ndownload of %s interrupted (%s); resuming%n", uri, e.getMessage());
      }
    }
    throw new IOException(
        "download of " + uri + " failed " + ATTEMPTS + " times; last error: " + last.getMessage(),
        last);
  }

  /** Where {@code address} is (or will be) cached. */
  public Path cachePath(String address) {
    HubAddress a = parse(address);
    return cacheDir.resolve("huggingface").resolve(a.owner()).resolve(a.repo()).resolve(a.path());
  }

  /** The HTTP address a {@code hf://} address downloads from. */
  public URI downloadUri(String address) {
    return downloadUri(parse(address));
  }

  private URI downloadUri(HubAddress a) {
    return URI.create(
        endpoint + "/" + a.owner() + "/" + a.repo() + "/resolve/main/" + encodePath(a.path()));
  }

  static HubAddress parse(String address) {
    String rest = address.substring("hf://".length());
    String sha = null;
    int hash = rest.indexOf('#');
    if (hash >= 0) {
      String frag = rest.substring(hash + 1);
      rest = rest.substring(0, hash);
      if (!frag.startsWith("sha256=")
          || !SHA256.matcher(frag.substring(7).toLowerCase(Locale.ROOT)).matches()) {
        throw new IllegalArgumentException(
            "model address " + address + ": the suffix must be #sha256=<64 hex digits>");
      }
      sha = frag.substring(7).toLowerCase(Locale.ROOT);
    }
    String[] parts = rest.split("/", 3);
    if (parts.length < 3 || parts[0].isEmpty() || parts[1].isEmpty() || parts[2].isEmpty()) {
      throw new IllegalArgumentException(
          "model address " + address + " is not hf://OWNER/REPO/PATH");
    }
    for (String seg : parts[2].split("/")) {
      if (seg.isEmpty() || seg.equals("..") || seg.equals(".")) {
        throw new IllegalArgumentException(
            "model address " + address + ": invalid path segment '" + seg + "'");
      }
    }
    String canonical = "hf://" + rest;
    if (sha == null) {
      sha = KNOWN_SHA256.get(canonical);
    }
    return new HubAddress(parts[0], parts[1], parts[2], sha, canonical);
  }

  private static String encodePath(String path) {
    StringBuilder sb = new StringBuilder();
    for (String seg : path.split("/")) {
      if (!sb.isEmpty()) {
        sb.append('/');
      }
      sb.append(
          java.net.URLEncoder.encode(seg, java.nio.charset.StandardCharsets.UTF_8)
              .replace("+", "%20"));
    }
    return sb.toString();
  }

  private static Optional<String> readSidecar(Path target) throws IOException {
    Path side = target.resolveSibling(target.getFileName() + ".sha256");
    if (!Files.isRegularFile(side)) {
      return Optional.empty();
    }
    String s = Files.readString(side).trim().split("\\s+")[0].toLowerCase(Locale.ROOT);
    if (!SHA256.matcher(s).matches()) {
      throw new IOException(side + " does not start with a sha256 (64 hex digits)");
    }
    return Optional.of(s);
  }

  /** A failure that retrying cannot fix. */
  private static final class Fatal extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final transient IOException io;

    Fatal(IOException io) {
      super(io.getMessage(), null, false, false);
      this.io = io;
    }
  }

  /**
   * Appends the rest of {@code uri} to {@code part}. Returns the sha256 the server announces, if
   * any.
   */
  private String download(URI uri, Path part) throws IOException {
    long have = Files.isRegularFile(part) ? Files.size(part) : 0;
    HttpRequest.Builder req = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(10)).GET();
    if (have > 0) {
      req.header("Range", "bytes=" + have + "-");
    }
    HttpResponse<InputStream> resp;
    try {
      resp = http.send(req.build(), HttpResponse.BodyHandlers.ofInputStream());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("download of " + uri + " interrupted");
    }
    int code = resp.statusCode();
    String linked =
        resp.headers()
            .firstValue("X-Linked-Etag")
            .map(s -> s.replace("\"", "").toLowerCase(Locale.ROOT))
            .filter(s -> SHA256.matcher(s).matches())
            .orElse(null);
    try (InputStream in = resp.body()) {
      if (code == 416 && have > 0) {
        return linked; // the partial file is already complete
      }
      if (code == 404 || code == 401 || code == 403) {
        throw new Fatal(
            new NoSuchFileException(
                uri.toString(),
                null,
                "HTTP " + code + ": no such model file (check OWNER/REPO/PATH of the address)"));
      }
      if (code != 200 && code != 206) {
        throw new IOException("HTTP " + code + " from " + uri);
      }
      boolean append = code == 206;
      if (!append) {
        have = 0; // the server ignored the range: start over
      }
      long total =
          append
              ? resp.headers()
                  .firstValue("Content-Range")
                  .map(r -> r.substring(r.indexOf('/') + 1))
                  .filter(s -> s.chars().allMatch(Character::isDigit) && !s.isEmpty())
                  .map(Long::parseLong)
                  .orElse(-1L)
              : resp.headers().firstValueAsLong("Content-Length").orElse(-1L);
      try (OutputStream out =
          Files.newOutputStream(
              part,
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE,
              append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
        copyWithProgress(in, out, have, total, uri);
      }
      return linked;
    }
  }

  private void copyWithProgress(InputStream in, OutputStream out, long have, long total, URI uri)
      throws IOException {
    byte[] buf = new byte[1 << 16];
    long done = have;
    long start = System.nanoTime();
    long lastPrint = 0;
    String name = uri.getPath().substring(uri.getPath().lastIndexOf('/') + 1);
    try {
      int n;
      while ((n = in.read(buf)) > 0) {
        out.write(buf, 0, n);
        done += n;
        long now = System.nanoTime();
        if (now - lastPrint > 200_000_000L) {
          lastPrint = now;
          printBar(name, done, have, total, now - start);
        }
      }
    } finally {
      printBar(name, done, have, total, System.nanoTime() - start);
      progress.println();
      progress.flush();
    }
    if (total > 0 && done < total) {
      throw new IOException("connection closed after " + done + " of " + total + " bytes");
    }
  }

  private void printBar(String name, long done, long have, long total, long nanos) {
    double secs = Math.max(nanos / 1e9, 1e-3);
    double rate = (done - have) / secs / 1e6;
    if (total > 0) {
      int width = 30;
      int filled = (int) (width * done / total);
      progress.printf(
          "\r%s [%s%s] %3d%% %.1f/%.1f MB %.1f MB/s",
          name,
          "=".repeat(filled),
          " ".repeat(width - filled),
          (int) (100 * done / total),
          done / 1e6,
          total / 1e6,
          rate);
    } else {
      progress.printf("\r%s %.1f MB %.1f MB/s", name, done / 1e6, rate);
    }
    progress.flush();
  }

  private void verifyAndMove(String address, Path part, Path target, String expected)
      throws IOException {
    if (expected == null) {
      progress.printf(
          "warning: no sha256 known for %s; add #sha256=<hex> to the address to verify it%n",
          address);
    } else {
      String actual = sha256(part);
      if (!actual.equals(expected)) {
        Files.deleteIfExists(part);
        throw new Fatal(
            new IOException(
                "sha256 mismatch for "
                    + address
                    + ": expected "
                    + expected
                    + ", got "
                    + actual
                    + "; the download was removed, try again or check the address"));
      }
    }
    Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  /** Hex sha256 of a file. */
  public static String sha256(Path file) throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    byte[] buf = new byte[1 << 16];
    try (InputStream in = Files.newInputStream(file)) {
      int n;
      while ((n = in.read(buf)) > 0) {
        md.update(buf, 0, n);
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private static boolean isUnreachable(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof ConnectException
          || t instanceof java.net.UnknownHostException
          || t instanceof java.net.NoRouteToHostException
          || t instanceof UnresolvedAddressException
          || t instanceof HttpConnectTimeoutException) {
        return true;
      }
    }
    return false;
  }

  private static IOException offline(String address, URI uri, Path target, Exception cause) {
    return new IOException(
        "cannot download "
            + address
            + " from "
            + uri
            + " ("
            + cause.getClass().getSimpleName()
            + (cause.getMessage() != null ? ": " + cause.getMessage() : "")
            + "). Offline? Pass a local file instead: --model /path/to/model.gguf, or put the"
            + " file at "
            + target,
        cause);
  }
}
