package dev.sluice.node.metrics;

import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.management.javadsl.ManagementRouteProvider;
import org.apache.pekko.management.javadsl.ManagementRouteProviderSettings;

/**
 * Serves {@code GET /metrics} on the node's Pekko Management port in the Prometheus text format (or
 * OpenMetrics, when the scraper's {@code Accept} header asks for it), from the node's {@link
 * NodeMetrics} registry.
 *
 * <p>Registered by configuration ({@code pekko.management.http.routes.sluice-metrics} in
 * cluster-node's {@code reference.conf}); Pekko Management instantiates it with the actor system
 * when it starts, which also starts the node's metric feeders. A scrape collects synchronously on
 * the HTTP dispatcher: every collector is in-memory or a microsecond native call (NVML).
 */
public final class MetricsRouteProvider extends AllDirectives implements ManagementRouteProvider {

  private final NodeMetrics nodeMetrics;
  private final ExpositionFormats formats = ExpositionFormats.init();

  /** Called reflectively by Pekko Management. */
  public MetricsRouteProvider(ExtendedActorSystem system) {
    this.nodeMetrics = NodeMetrics.get(Adapter.toTyped(system));
  }

  @Override
  public Route routes(ManagementRouteProviderSettings settings) {
    return path(
        "metrics",
        () ->
            get(
                () ->
                    optionalHeaderValueByName(
                        "Accept", accept -> complete(scrape(accept.orElse(null))))));
  }

  /** One scrape in the format {@code accept} asks for. */
  HttpResponse scrape(String accept) {
    ExpositionFormatWriter writer = formats.findWriter(accept);
    ByteArrayOutputStream body = new ByteArrayOutputStream(32 * 1024);
    try {
      writer.write(body, nodeMetrics.registry().scrape());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    ContentType type = ContentTypes.parse(writer.getContentType());
    return HttpResponse.create()
        .withStatus(StatusCodes.OK)
        .withEntity(HttpEntities.create(type, body.toByteArray()));
  }
}
