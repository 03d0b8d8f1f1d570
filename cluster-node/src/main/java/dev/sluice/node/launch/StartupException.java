package dev.sluice.node.launch;

/**
 * A reason not to start, found before anything is started: a bad flag or configuration value, or a
 * port in use. The command line prints its message alone and exits with {@link #EXIT_CODE}.
 */
public final class StartupException extends RuntimeException {
  /** Exit status for usage and configuration errors (as picocli uses for bad flags). */
  public static final int EXIT_CODE = 2;

  public StartupException(String message) {
    super(message);
  }

  public StartupException(String message, Throwable cause) {
    super(message, cause);
  }
}
