package dev.sluice.seed.gateway;

import static org.apache.pekko.http.javadsl.server.Directives.complete;
import static org.apache.pekko.http.javadsl.server.Directives.completeWithFuture;
import static org.apache.pekko.http.javadsl.server.Directives.concat;
import static org.apache.pekko.http.javadsl.server.Directives.extractRequest;
import static org.apache.pekko.http.javadsl.server.Directives.extractUnmatchedPath;
import static org.apache.pekko.http.javadsl.server.Directives.get;
import static org.apache.pekko.http.javadsl.server.Directives.path;
import static org.apache.pekko.http.javadsl.server.Directives.pathEndOrSingleSlash;
import static org.apache.pekko.http.javadsl.server.Directives.pathPrefix;
import static org.apache.pekko.http.javadsl.server.Directives.post;
import static org.apache.pekko.http.javadsl.server.Directives.withRequestTimeout;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.node.launch.ClusterNode;
import dev.sluice.node.worker.WorkerProtocol.ChunkLogprob;
import dev.sluice.seed.admission.AdmissionController;
import dev.sluice.seed.admission.AdmissionController.Admitted;
import dev.sluice.seed.admission.AdmissionController.Refused;
import dev.sluice.seed.admission.AdmissionSettings;
import dev.sluice.seed.gateway.RequestSession.Done;
import dev.sluice.seed.gateway.RequestSession.Out;
import dev.sluice.seed.gateway.RequestSession.Started;
import dev.sluice.seed.gateway.RequestSession.Text;
import dev.sluice.seed.routing.Router;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.AttributeKey;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpProtocols;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.settings.ServerSettings;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OpenAI-compatible HTTP API of a gateway node: {@code POST /v1/chat/completions}, {@code POST
 * /v1/completions} (streamed as Server-Sent Events ending in {@code data: [DONE]}, or whole), and
 * {@code GET /v1/models}. Validation, authentication and admission happen here, synchronously and
 * before anything is queued, so a refusal costs microseconds; an admitted request becomes a {@link
 * RequestSession}.
 *
 * <p>Every error is OpenAI's error object with an exact status: 400 malformed body, 401 missing or
 * unknown API key, 404 unknown path or model, 405 wrong method, 413 body too large, 422 value out
 * of bounds, 429 tenant over quota, 503 over capacity or no worker (both with {@code Retry-After}
 * and {@code X-Sluice-Reason}). Failure semantics: if the port cannot be bound after start-up, the
 * node stops (a gateway that does not listen must not look healthy).
 */
public final class HttpApi {
  private static final Logger log = LoggerFactory.getLogger(HttpApi.class);
  public static final String DEADLINE_HEADER = "X-Sluice-Deadline-Ms";
  public static final String REASON_HEADER = "X-Sluice-Reason";

  /** The worker that served the request (the first one, for a stream retried before output). */
  public static final String WORKER_HEADER = "X-Sluice-Worker";

  private static final ByteString KEEP_ALIVE = ByteString.fromString(": keep-alive\n\n");

  private final ActorSystem<?> system;
  private final Materializer mat;
  private final RequestSession.Deps deps;
  private final Router router;
  private final AtomicLong sessions = new AtomicLong();

  public HttpApi(ActorSystem<?> system, RequestSession.Deps deps, Router router) {
    this.system = system;
    this.mat = Materializer.matFromSystem(system);
    this.deps = deps;
    this.router = router;
  }

  /** Binds the API on the node's actor system and logs where it listens. */
  public CompletionStage<ServerBinding> start() {
    GatewaySettings s = deps.settings();
    CompletionStage<ServerBinding> binding =
        Http.get(system)
            .newServerAt(s.host(), s.port())
            .withSettings(serverSettings())
            .bindFlow(connectionFlow());
    binding.whenComplete(
        (b, error) -> {
          if (error != null) {
            log.error(
                "HTTP API could not listen on {}:{}; stopping the node", s.host(), s.port(), error);
            ClusterNode.stop(system, "the HTTP API could not listen");
          } else {
            log.info(
                "HTTP API (OpenAI-compatible) listening on http://{}:{}",
                b.localAddress().getHostString(),
                b.localAddress().getPort());
          }
        });
    return binding;
  }

  /**
   * The server settings with the idle timeout raised to the longest deadline plus 30 s (the
   * per-request timeout too): a whole (non-streamed) response sends nothing until it is complete,
   * so a connection idle for pekko-http's default 60 s may still be waiting for an admitted
   * request, which must not be dropped. Set here and not in reference.conf: in the shaded jar
   * pekko-http's own reference.conf comes later and its default won.
   */
  ServerSettings serverSettings() {
    ServerSettings base = ServerSettings.create(system.settings().config());
    return base.withTimeouts(
        base.getTimeouts()
            .withIdleTimeout(
                scala.concurrent.duration.FiniteDuration.create(
                    requestTimeout().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)));
  }

  private Duration requestTimeout() {
    return Duration.ofMillis(deps.admission().settings().maxDeadlineMs()).plusSeconds(30);
  }

  /**
   * The routes as one connection's flow, each request carrying its {@link Connection}, so that a
   * request can learn that its client has gone before any response byte is written: Pekko HTTP
   * tells a handler nothing of it, and keeps waiting for the response of a request whose client
   * closed its socket (a streamed entity learns it only when its write fails).
   *
   * <p>The sign is the end of the connection's request side while a response is pending: the server
   * reads end of stream from a client that closed its socket. A client that only half-closes its
   * sending side looks the same and counts as gone too (nginx's convention; such a client gets a
   * bodiless 499). The request side also ends after a request that asks to close the connection
   * ({@code Connection: close}, or HTTP/1.0 without keep-alive) while its client still waits: that
   * end is no sign, and such a client's departure is noticed only at its deadline (or, streamed, at
   * the first write).
   */
  Flow<HttpRequest, HttpResponse, NotUsed> connectionFlow() {
    Flow<HttpRequest, HttpResponse, NotUsed> handler = routes().flow(system);
    return Flow.fromMaterializer(
            (m, attributes) -> {
              Connection c = new Connection();
              return Flow.<HttpRequest>create()
                  .map(r -> c.received(r))
                  .watchTermination(
                      (nu, done) -> {
                        done.whenComplete((d, e) -> c.requestSideEnded());
                        return NotUsed.getInstance();
                      })
                  .via(handler)
                  .watchTermination(
                      (nu, done) -> {
                        done.whenComplete((d, e) -> c.close());
                        return NotUsed.getInstance();
                      });
            })
        .mapMaterializedValue(f -> NotUsed.getInstance());
  }

  /** One client connection: what to cancel when it goes. */
  static final class Connection {
    static final AttributeKey<Connection> KEY =
        AttributeKey.create("sluice-connection", Connection.class);

    private final Set<Runnable> onClose = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;
    private volatile boolean lastAskedToClose;

    /** A request arrived on this connection: tags it with the connection. */
    HttpRequest received(HttpRequest r) {
      lastAskedToClose = asksToClose(r);
      return r.addAttribute(KEY, this);
    }

    /** No more requests will come: the client is gone, unless the last one asked for that. */
    void requestSideEnded() {
      if (!lastAskedToClose) {
        close();
      }
    }

    private static boolean asksToClose(HttpRequest r) {
      boolean close = false;
      boolean keepAlive = false;
      for (HttpHeader h : r.getHeaders()) {
        if (h.is("connection")) {
          String v = h.value().toLowerCase(java.util.Locale.ROOT);
          close |= v.contains("close");
          keepAlive |= v.contains("keep-alive");
        }
      }
      return close || (r.protocol().equals(HttpProtocols.HTTP_1_0) && !keepAlive);
    }

    /**
     * Runs {@code r} once when the connection closes (at once if it has); returns what removes it
     * again, so a long-lived keep-alive connection holds only its requests in flight.
     */
    Runnable onClose(Runnable r) {
      onClose.add(r);
      if (closed && onClose.remove(r)) {
        r.run();
      }
      return () -> onClose.remove(r);
    }

    void close() {
      closed = true;
      for (Runnable r : onClose) {
        if (onClose.remove(r)) {
          r.run();
        }
      }
    }
  }

  /** Ends a request's output when its client has gone (not an error: nobody sees it). */
  private static final class ClientGone extends RuntimeException {
    ClientGone() {
      super("the client closed its connection", null, false, false);
    }
  }

  /** Aborts {@code output} if the request's connection closes; returns what deregisters it. */
  private static Runnable abortOnClientGone(HttpRequest req, UniqueKillSwitch output) {
    return req.getAttribute(Connection.KEY)
        .map(c -> c.onClose(() -> output.abort(new ClientGone())))
        .orElse(() -> {});
  }

  /** The API's routes. */
  public Route routes() {
    Duration timeout = requestTimeout();
    return withRequestTimeout(
        timeout,
        () ->
            concat(
                pathPrefix(
                    "v1",
                    () ->
                        concat(
                            pathPrefix(
                                "chat",
                                () ->
                                    path(
                                        "completions",
                                        () ->
                                            concat(
                                                post(() -> completion(true)), notAllowed("POST")))),
                            path(
                                "completions",
                                () -> concat(post(() -> completion(false)), notAllowed("POST"))),
                            pathPrefix(
                                "models",
                                () ->
                                    concat(
                                        pathEndOrSingleSlash(
                                            () ->
                                                concat(
                                                    get(() -> json(StatusCodes.OK, modelList())),
                                                    notAllowed("GET"))),
                                        extractUnmatchedPath(
                                            p -> get(() -> model(p.replaceFirst("^/", "")))))))),
                extractUnmatchedPath(
                    p ->
                        error(
                            new ApiError(
                                404,
                                "invalid_request_error",
                                "not_found",
                                null,
                                "Unknown path " + p + ".",
                                0,
                                null)))));
  }

  private Route notAllowed(String method) {
    return error(
        new ApiError(
            405,
            "invalid_request_error",
            "method_not_allowed",
            null,
            "Method not allowed here; use " + method + ".",
            0,
            null));
  }

  private ObjectNode modelList() {
    ObjectNode list = OpenAiJson.JSON.createObjectNode();
    list.put("object", "list");
    var data = list.putArray("data");
    for (String m : deps.admission().pool().readyModels(System.currentTimeMillis())) {
      data.add(modelObject(m));
    }
    return list;
  }

  private static ObjectNode modelObject(String id) {
    ObjectNode o = OpenAiJson.JSON.createObjectNode();
    o.put("id", id);
    o.put("object", "model");
    o.put("created", 0);
    o.put("owned_by", "sluice");
    return o;
  }

  private Route model(String id) {
    if (deps.admission().pool().readyModels(System.currentTimeMillis()).contains(id)) {
      return json(StatusCodes.OK, modelObject(id));
    }
    return error(modelNotFound(id));
  }

  private static ApiError modelNotFound(String model) {
    return new ApiError(
        404,
        "invalid_request_error",
        "model_not_found",
        "model",
        "The model '" + model + "' does not exist or no worker serves it (see GET /v1/models).",
        0,
        null);
  }

  private Route completion(boolean chat) {
    return extractRequest(req -> completeWithFuture(handle(req, chat)));
  }

  /** The whole handling of one completion request, as a future response. */
  CompletionStage<HttpResponse> handle(HttpRequest req, boolean chat) {
    GatewayMetrics.Exchange ex = deps.metrics().begin(chat);
    return handle(req, chat, ex).thenApply(ex::respond);
  }

  private CompletionStage<HttpResponse> handle(
      HttpRequest req, boolean chat, GatewayMetrics.Exchange ex) {
    String tenant;
    long deadlineMs;
    try {
      tenant = authenticate(req);
      deadlineMs = deadline(req);
    } catch (ApiError.Failure f) {
      return CompletableFuture.completedFuture(response(f.error()));
    }
    long limit = deps.settings().maxBodyBytes();
    if (req.entity() instanceof HttpEntity.Strict whole) {
      // Nearly every body arrives whole: decided here on the connection's thread, with no future
      // and no hop to another thread, so a refusal costs only parsing and admission.
      if (whole.getData().size() > limit) {
        return CompletableFuture.completedFuture(response(tooLarge(limit)));
      }
      CompletionStage<HttpResponse> answer;
      try {
        answer = admit(req, whole.getData(), chat, tenant, deadlineMs, ex);
      } catch (ApiError.Failure f) {
        return CompletableFuture.completedFuture(response(f.error()));
      } catch (RuntimeException e) {
        return CompletableFuture.completedFuture(unexpected(e, limit));
      }
      return answer.exceptionally(t -> unexpected(t, limit));
    }
    return direct(req.entity().withSizeLimit(limit).toStrict(30_000, mat))
        .thenCompose(
            strict -> {
              try {
                return admit(req, strict.getData(), chat, tenant, deadlineMs, ex);
              } catch (ApiError.Failure f) {
                return CompletableFuture.completedFuture(response(f.error()));
              }
            })
        .exceptionally(t -> unexpected(t, limit));
  }

  /**
   * A plain future completed on the thread that completes {@code stage}. Stages backed by Scala
   * futures (Pekko's javadsl) run every dependent action asynchronously on the common pool, which
   * has a single thread on a 2-core machine: every request would queue there for a hop.
   */
  static <T> CompletableFuture<T> direct(CompletionStage<T> stage) {
    CompletableFuture<T> f = new CompletableFuture<>();
    stage.whenCompleteAsync(
        (v, e) -> {
          if (e != null) {
            f.completeExceptionally(e);
          } else {
            f.complete(v);
          }
        },
        Runnable::run);
    return f;
  }

  private static ApiError tooLarge(long limit) {
    return new ApiError(
        413,
        "invalid_request_error",
        "request_too_large",
        null,
        "The request body is larger than " + limit + " bytes.",
        0,
        null);
  }

  /** A failure nothing else answered: 413, 503 while shutting down, else 500. */
  private static HttpResponse unexpected(Throwable t, long limit) {
    Throwable c = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    while (c.getCause() != null && !(c instanceof EntityStreamSizeException)) {
      c = c.getCause();
    }
    if (c instanceof ClientGone) {
      // Never sent (the connection is closed): recorded as nginx's 499.
      return HttpResponse.create()
          .withStatus(
              StatusCodes.custom(
                  GatewayMetrics.CLIENT_CLOSED,
                  "Client Closed Request",
                  "The client closed its connection before the response.",
                  false,
                  false));
    }
    if (c instanceof EntityStreamSizeException) {
      return response(tooLarge(limit));
    }
    if (c instanceof org.apache.pekko.stream.AbruptTerminationException) {
      // The node is shutting down under the request.
      return response(
          new ApiError(
              503,
              "server_error",
              "shutting_down",
              null,
              "The gateway is shutting down; retry on another node.",
              1,
              "shutting_down"));
    }
    log.error("request failed unexpectedly", t);
    return response(
        new ApiError(500, "server_error", "internal_error", null, "Internal error: " + c, 0, null));
  }

  private String authenticate(HttpRequest req) {
    if (!deps.settings().authEnabled()) {
      return AdmissionSettings.DEFAULT_TENANT;
    }
    Optional<HttpHeader> h = req.getHeader("Authorization");
    String v = h.map(HttpHeader::value).orElse("");
    if (!v.regionMatches(true, 0, "Bearer ", 0, 7)) {
      throw unauthorized("Missing API key: send 'Authorization: Bearer YOUR_KEY'.");
    }
    String tenant = deps.settings().apiKeys().get(v.substring(7).trim());
    if (tenant == null) {
      throw unauthorized("Incorrect API key provided.");
    }
    return tenant;
  }

  private static ApiError.Failure unauthorized(String msg) {
    return new ApiError(401, "invalid_request_error", "invalid_api_key", null, msg, 0, null)
        .failure();
  }

  private long deadline(HttpRequest req) {
    AdmissionSettings a = deps.admission().settings();
    Optional<HttpHeader> h = req.getHeader(DEADLINE_HEADER);
    if (h.isEmpty()) {
      return a.defaultDeadlineMs();
    }
    long v;
    try {
      v = Long.parseLong(h.get().value().trim());
    } catch (NumberFormatException e) {
      throw ApiError.invalid(
              DEADLINE_HEADER, DEADLINE_HEADER + " must be an integer number of milliseconds.")
          .failure();
    }
    if (v < a.minDeadlineMs() || v > a.maxDeadlineMs()) {
      throw ApiError.outOfBounds(
              DEADLINE_HEADER,
              DEADLINE_HEADER
                  + " must be between "
                  + a.minDeadlineMs()
                  + " and "
                  + a.maxDeadlineMs()
                  + ", got "
                  + v
                  + ".")
          .failure();
    }
    return v;
  }

  private CompletionStage<HttpResponse> admit(
      HttpRequest req,
      ByteString body,
      boolean chat,
      String tenant,
      long deadlineMs,
      GatewayMetrics.Exchange ex) {
    JsonNode json;
    try {
      json = OpenAiJson.JSON.readTree(body.toArray());
    } catch (java.io.IOException e) {
      throw ApiError.invalid(
              null, "The request body is not valid JSON: " + firstLine(e.getMessage()))
          .failure();
    }
    GatewaySettings s = deps.settings();
    CompletionRequest r =
        CompletionRequest.parse(
            json,
            chat,
            new CompletionRequest.Limits(s.maxTokens(), s.defaultMaxTokens(), s.maxPromptTokens()));
    if (!deps.admission().pool().knowsModel(r.model())) {
      throw modelNotFound(r.model()).failure();
    }
    ex.model(r.model());
    AdmissionController.Decision d =
        deps.admission()
            .admit(
                new AdmissionController.Request(
                    tenant,
                    r.model(),
                    CompletionRequest.estimateTokens(r.promptText()),
                    r.params().maxTokens(),
                    deadlineMs,
                    router.affinityKey(r.promptText())),
                System.currentTimeMillis(),
                System.nanoTime());
    if (d instanceof Refused ref) {
      return CompletableFuture.completedFuture(
          response(
              new ApiError(
                  ref.status(),
                  ref.status() == 429 ? "rate_limit_exceeded" : "server_error",
                  ref.reason(),
                  null,
                  ref.message(),
                  ref.retryAfterSeconds(),
                  ref.reason())));
    }
    Admitted a = (Admitted) d;
    String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
    CompletableFuture<Source<Out, NotUsed>> source = new CompletableFuture<>();
    system.systemActorOf(
        RequestSession.create(deps, r, id, a, source),
        "request-" + sessions.incrementAndGet(),
        Props.empty());
    long created = System.currentTimeMillis() / 1000;
    return source.thenCompose(
        src ->
            r.stream()
                ? streamed(req, r, id, created, src, ex)
                : whole(req, r, id, created, src, ex));
  }

  private CompletionStage<HttpResponse> whole(
      HttpRequest req,
      CompletionRequest r,
      String id,
      long created,
      Source<Out, NotUsed> src,
      GatewayMetrics.Exchange ex) {
    // Nothing is written before the end, so only the connection can say that the client left: the
    // kill switch then cancels the session's source, which cancels the worker's sequence.
    Pair<UniqueKillSwitch, CompletionStage<List<Out>>> run =
        src.viaMat(KillSwitches.single(), Keep.right()).toMat(Sink.seq(), Keep.both()).run(mat);
    Runnable deregister = abortOnClientGone(req, run.first());
    return direct(run.second())
        .whenComplete((outs, e) -> deregister.run())
        .thenApply(
            outs -> {
              StringBuilder text = new StringBuilder();
              List<ChunkLogprob> lps = new ArrayList<>();
              for (Out o : outs) {
                switch (o) {
                  case Text t -> {
                    ex.produced();
                    text.append(t.text());
                    if (t.logprobs() != null) {
                      lps.addAll(t.logprobs());
                    }
                  }
                  case Done done -> {
                    return json(
                        StatusCodes.OK,
                        OpenAiJson.completion(
                            r,
                            id,
                            created,
                            text.toString(),
                            lps,
                            done.finishReason(),
                            done.promptTokens(),
                            done.completionTokens()),
                        List.of(RawHeader.create(WORKER_HEADER, done.workerId())));
                  }
                  case RequestSession.Error e -> {
                    return response(e.error());
                  }
                  case RequestSession.Restart x -> {
                    text.setLength(0);
                    lps.clear();
                  }
                  default -> {}
                }
              }
              return response(
                  new ApiError(
                      503,
                      "server_error",
                      "incomplete",
                      null,
                      "The generation ended without a result.",
                      1,
                      "incomplete"));
            });
  }

  private CompletionStage<HttpResponse> streamed(
      HttpRequest req,
      CompletionRequest r,
      String id,
      long created,
      Source<Out, NotUsed> src,
      GatewayMetrics.Exchange ex) {
    // Until a worker accepts, no header is written: watch the connection as a whole response
    // does. Once the entity streams, its cancellation (a failed write) ends the session.
    Pair<UniqueKillSwitch, CompletionStage<Pair<List<Out>, Source<Out, NotUsed>>>> run =
        src.viaMat(KillSwitches.single(), Keep.right())
            .prefixAndTail(1)
            .toMat(Sink.head(), Keep.both())
            .run(mat);
    Runnable deregister = abortOnClientGone(req, run.first());
    return direct(run.second())
        .whenComplete((p, e) -> deregister.run())
        .thenApply(
            pair -> {
              Out first = pair.first().isEmpty() ? null : pair.first().get(0);
              if (!(first instanceof Started)) {
                pair.second().runWith(Sink.ignore(), mat);
                if (first instanceof RequestSession.Error e) {
                  return response(e.error());
                }
                return response(
                    new ApiError(
                        503, "server_error", "incomplete", null, "No output.", 1, "incomplete"));
              }
              Source<ByteString, NotUsed> opening =
                  r.chat()
                      ? Source.single(
                          sse(OpenAiJson.chunk(r, id, created, null, true, null, 0, null)))
                      : Source.empty();
              Source<ByteString, NotUsed> frames =
                  opening
                      .concat(pair.second().mapConcat(new SseFrames(r, id, created, ex)::frames))
                      // An SSE comment while the worker is quiet keeps proxies from timing out
                      // and lets a closed connection be noticed (a write fails) and cancelled.
                      .keepAlive(deps.settings().sseKeepAlive(), () -> KEEP_ALIVE)
                      .watchTermination(
                          (nu, done) -> {
                            done.whenComplete((d, e) -> ex.streamEnded());
                            return NotUsed.getInstance();
                          });
              ex.streaming();
              return HttpResponse.create()
                  .withStatus(StatusCodes.OK)
                  .addHeader(RawHeader.create("Cache-Control", "no-cache"))
                  .addHeader(RawHeader.create("X-Accel-Buffering", "no"))
                  .addHeader(RawHeader.create(WORKER_HEADER, ((Started) first).workerId()))
                  .withEntity(
                      HttpEntities.createChunked(
                          ContentTypes.create(MediaTypes.TEXT_EVENT_STREAM), frames));
            });
  }

  /** Turns session output into SSE frames; keeps the text offset for completions' logprobs. */
  private static final class SseFrames {
    private final CompletionRequest r;
    private final String id;
    private final long created;
    private final GatewayMetrics.Exchange ex;
    private int offset;

    SseFrames(CompletionRequest r, String id, long created, GatewayMetrics.Exchange ex) {
      this.r = r;
      this.id = id;
      this.created = created;
      this.ex = ex;
    }

    List<ByteString> frames(Out o) {
      return switch (o) {
        case Text t -> {
          ByteString b =
              sse(OpenAiJson.chunk(r, id, created, t.text(), false, t.logprobs(), offset, null));
          offset += t.text().length();
          yield List.of(b);
        }
        case Done d -> {
          ex.streamEnd(200);
          List<ByteString> l = new ArrayList<>();
          l.add(sse(OpenAiJson.chunk(r, id, created, null, false, null, offset, d.finishReason())));
          if (r.includeUsage()) {
            l.add(
                sse(OpenAiJson.usageChunk(r, id, created, d.promptTokens(), d.completionTokens())));
          }
          l.add(ByteString.fromString("data: [DONE]\n\n"));
          yield l;
        }
        // After streaming began the status is sent: the error travels as an event, OpenAI-style
        // (a data line holding an error object, which the openai clients raise as APIError).
        case RequestSession.Error e -> {
          ex.streamEnd(e.error().status());
          yield List.of(sse(OpenAiJson.error(e.error())));
        }
        default -> List.of();
      };
    }
  }

  private static ByteString sse(ObjectNode o) {
    return ByteString.fromString("data: " + o + "\n\n", StandardCharsets.UTF_8);
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  /** An error as an HTTP response (status, OpenAI error body, Retry-After, X-Sluice-Reason). */
  static HttpResponse response(ApiError e) {
    List<HttpHeader> headers = new ArrayList<>();
    if (e.retryAfterSeconds() > 0) {
      headers.add(RawHeader.create("Retry-After", Integer.toString(e.retryAfterSeconds())));
    }
    if (e.reason() != null) {
      headers.add(RawHeader.create(REASON_HEADER, e.reason()));
    }
    return json(StatusCodes.get(e.status()), OpenAiJson.error(e), headers);
  }

  private static Route error(ApiError e) {
    return complete(response(e));
  }

  private static HttpResponse json(StatusCode status, ObjectNode body, List<HttpHeader> headers) {
    return HttpResponse.create()
        .withStatus(status)
        .addHeaders(headers)
        .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, body.toString()));
  }

  private static Route json(StatusCode status, ObjectNode body) {
    return complete(json(status, body, List.of()));
  }
}
