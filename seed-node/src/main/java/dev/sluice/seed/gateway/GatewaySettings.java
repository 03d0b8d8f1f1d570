package dev.sluice.seed.gateway;

import com.typesafe.config.Config;
import dev.sluice.node.config.NodeSettings;
import dev.sluice.node.config.Settings;

/**
 * The {@code sluice.gateway} section: where the OpenAI-compatible HTTP API listens on nodes with
 * the {@code gateway} role.
 *
 * @param host address the HTTP API binds to
 * @param port its port
 */
public record GatewaySettings(String host, int port) {

  /** Reads and validates the section; an empty host means the node's bind host. */
  public static GatewaySettings fromConfig(Config c, NodeSettings node) {
    String host = Settings.string(c, "sluice.gateway.http.host");
    int port = Settings.port(c, "sluice.gateway.http.port", false);
    return new GatewaySettings(host.isEmpty() ? node.bindHost() : host, port);
  }
}
