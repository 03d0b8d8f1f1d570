package dev.sluice.node.config;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * The build's own version, filtered into {@code build.properties} by Maven. It becomes {@code
 * pekko.cluster.app-version}, so rolling and blue-green upgrades can tell old nodes from new ones.
 */
public final class BuildInfo {
  private static final String RESOURCE = "/dev/sluice/node/build.properties";
  private static final String VERSION = load();

  private BuildInfo() {}

  /** The Maven project version, e.g. {@code 0.1.0-SNAPSHOT}; {@code 0.0.0} when run unfiltered. */
  public static String version() {
    return VERSION;
  }

  private static String load() {
    try (InputStream in = BuildInfo.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        return "0.0.0";
      }
      Properties p = new Properties();
      p.load(in);
      String v = p.getProperty("version", "0.0.0").trim();
      // An IDE that copies resources without Maven filtering leaves the placeholder in place.
      return v.isEmpty() || v.startsWith("${") ? "0.0.0" : v;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + RESOURCE, e);
    }
  }
}
