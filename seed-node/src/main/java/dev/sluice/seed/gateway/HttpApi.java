package dev.sluice.seed.gateway;

import static org.apache.pekko.http.javadsl.server.Directives.complete;
import static org.apache.pekko.http.javadsl.server.Directives.concat;
import static org.apache.pekko.http.javadsl.server.Directives.extractUnmatchedPath;
import static org.apache.pekko.http.javadsl.server.Directives.get;
import static org.apache.pekko.http.javadsl.server.Directives.path;
import static org.apache.pekko.http.javadsl.server.Directives.pathPrefix;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.node.launch.ClusterNode;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.Route;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OpenAI-compatible HTTP API of a gateway node. For now it lists no models ({@code GET
 * /v1/models} answers an empty list) and answers every other path with a 404 in OpenAI's error
 * shape; the serving layer adds the completion endpoints here.
 *
 * <p>Failure semantics: if the port cannot be bound after start-up, the node stops (a gateway that
 * does not listen must not look healthy).
 */
public final class HttpApi {
  private static final Logger log = LoggerFactory.getLogger(HttpApi.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private HttpApi() {}

  /** Binds the API on the node's actor system and logs where it listens. */
  public static CompletionStage<ServerBinding> start(ActorSystem<?> system, GatewaySettings s) {
    CompletionStage<ServerBinding> binding =
        Http.get(system).newServerAt(s.host(), s.port()).bind(routes());
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

  /** The API's routes. */
  public static Route routes() {
    return concat(
        pathPrefix(
            "v1",
            () ->
                path(
                    "models",
                    () ->
                        concat(
                            get(() -> json(StatusCodes.OK, modelList())),
                            json(
                                StatusCodes.METHOD_NOT_ALLOWED,
                                error(
                                    "Method not allowed on /v1/models; use GET.",
                                    "invalid_request_error",
                                    "method_not_allowed"))))),
        extractUnmatchedPath(
            p ->
                json(
                    StatusCodes.NOT_FOUND,
                    error("Unknown path " + p + ".", "invalid_request_error", "not_found"))));
  }

  private static ObjectNode modelList() {
    ObjectNode list = JSON.createObjectNode();
    list.put("object", "list");
    list.putArray("data");
    return list;
  }

  /** An error body in OpenAI's shape: {@code {"error":{"message","type","param","code"}}}. */
  static ObjectNode error(String message, String type, String code) {
    ObjectNode body = JSON.createObjectNode();
    ObjectNode e = body.putObject("error");
    e.put("message", message);
    e.put("type", type);
    e.putNull("param");
    e.put("code", code);
    return body;
  }

  private static Route json(StatusCode status, ObjectNode body) {
    return complete(
        HttpResponse.create()
            .withStatus(status)
            .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, body.toString())));
  }
}
