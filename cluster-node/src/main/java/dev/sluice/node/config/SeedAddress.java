package dev.sluice.node.config;

/**
 * One seed node as operators write it, {@code host:port} (IPv6 as {@code [addr]:port}).
 *
 * @param host host name or IP address of the seed's cluster remoting
 * @param port its remoting port (1..65535)
 */
public record SeedAddress(String host, int port) {

  /**
   * Parses {@code host:port}; {@code key} names the setting (or flag) in the error message.
   *
   * @throws SettingsException naming {@code key} when the text is not {@code host:port}
   */
  public static SeedAddress parse(String key, String text) {
    String s = text.trim();
    int colon = s.lastIndexOf(':');
    if (colon <= 0 || colon == s.length() - 1) {
      throw new SettingsException(key, "'" + text + "' is not HOST:PORT");
    }
    String host = s.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    } else if (host.contains(":")) {
      throw new SettingsException(key, "'" + text + "': write an IPv6 address as [ADDR]:PORT");
    }
    if (host.isBlank()) {
      throw new SettingsException(key, "'" + text + "' has no host");
    }
    int port;
    try {
      port = Integer.parseInt(s.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new SettingsException(key, "'" + text + "' has no numeric port");
    }
    if (port < 1 || port > 65535) {
      throw new SettingsException(
          key, "'" + text + "': port " + port + " is out of range 1..65535");
    }
    return new SeedAddress(host, port);
  }

  /** The Pekko address of this seed in the cluster called {@code clusterName}. */
  public String pekkoAddress(String clusterName) {
    String h = host.contains(":") ? "[" + host + "]" : host;
    return "pekko://" + clusterName + "@" + h + ":" + port;
  }

  @Override
  public String toString() {
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }
}
