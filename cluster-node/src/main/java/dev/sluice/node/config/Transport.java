package dev.sluice.node.config;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The Artery transport between nodes. */
public enum Transport {
  /** Artery over TCP: the default, works everywhere. */
  TCP("tcp"),
  /** Artery over Aeron UDP with an embedded media driver: lower latency, spins CPU when idle. */
  AERON_UDP("aeron-udp");

  private final String configName;

  Transport(String configName) {
    this.configName = configName;
  }

  /** The name used in configuration, on the command line and in {@code pekko.remote.artery}. */
  public String configName() {
    return configName;
  }

  /** Parses a configuration name; {@code key} names the setting in the error. */
  public static Transport parse(String key, String name) {
    for (Transport t : values()) {
      if (t.configName.equals(name)) {
        return t;
      }
    }
    throw new SettingsException(
        key,
        "'"
            + name
            + "' is not a transport; use one of "
            + Arrays.stream(values()).map(Transport::configName).collect(Collectors.joining(", ")));
  }
}
