package dev.sluice.node.config;

/**
 * A configuration value that Sluice refuses at start-up. It always names the offending key, so the
 * command line can translate it into the flag that set it and operators know what to fix.
 */
public final class SettingsException extends RuntimeException {
  private final String key;

  public SettingsException(String key, String problem) {
    super(key + ": " + problem);
    this.key = key;
  }

  public SettingsException(String key, String problem, Throwable cause) {
    super(key + ": " + problem, cause);
    this.key = key;
  }

  /** The configuration path of the refused value, e.g. {@code sluice.node.port}. */
  public String key() {
    return key;
  }
}
