package dev.sluice.node.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigResolveOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * Builds a node's configuration in one place, in this order of precedence (highest first):
 *
 * <ol>
 *   <li>command-line flags (given here as {@code sluice.*} overrides),
 *   <li>JVM system properties ({@code -Dsluice.node.port=...}),
 *   <li>the {@code --config} file, or else the jar's embedded default (single-node mode),
 *   <li>every module's {@code reference.conf}.
 * </ol>
 *
 * <p>{@code ${?SLUICE_...}} environment overrides are written in the files themselves and resolve
 * last, against the merged whole. The Pekko keys implied by {@link NodeSettings} are laid on top by
 * {@link #withDerivedPekko(Config, NodeSettings)}.
 */
public final class NodeConfig {
  private NodeConfig() {}

  /**
   * Merges and resolves the configuration.
   *
   * @param flags overrides from command-line flags, keyed by configuration path
   * @param file the {@code --config} file, if given
   * @param embeddedDefault a classpath resource path (no leading slash) used when no file is given
   * @throws SettingsException when the file is missing or unreadable, or a value cannot resolve
   */
  public static Config load(
      Map<String, ?> flags, Optional<Path> file, Optional<String> embeddedDefault) {
    Config base = ConfigFactory.empty();
    if (file.isPresent()) {
      Path f = file.get();
      if (!Files.isRegularFile(f) || !Files.isReadable(f)) {
        throw new SettingsException("--config", "cannot read file " + f.toAbsolutePath());
      }
      try {
        base =
            ConfigFactory.parseFile(
                f.toFile(), ConfigParseOptions.defaults().setAllowMissing(false));
      } catch (ConfigException e) {
        throw new SettingsException("--config", e.getMessage(), e);
      }
    } else if (embeddedDefault.isPresent()) {
      base =
          ConfigFactory.parseResources(
              NodeConfig.class.getClassLoader(),
              embeddedDefault.get(),
              ConfigParseOptions.defaults().setAllowMissing(false));
    }
    try {
      return ConfigFactory.parseMap(flags, "command-line flags")
          .withFallback(ConfigFactory.systemProperties())
          .withFallback(base)
          .withFallback(ConfigFactory.defaultReferenceUnresolved())
          .resolve(ConfigResolveOptions.defaults());
    } catch (ConfigException.UnresolvedSubstitution e) {
      throw new SettingsException(
          e.origin() == null ? "configuration" : e.origin().description(), e.getMessage(), e);
    } catch (ConfigException e) {
      throw new SettingsException("configuration", e.getMessage(), e);
    }
  }

  /** The configuration to start the actor system with: derived Pekko keys over {@code config}. */
  public static Config withDerivedPekko(Config config, NodeSettings settings) {
    return settings.toPekkoConfig().withFallback(config).resolve();
  }
}
