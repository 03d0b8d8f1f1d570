package dev.sluice.engine.gguf;

/** A GGUF file that is corrupt, truncated or uses something Sluice does not support. */
public final class GgufFormatException extends RuntimeException {
  public GgufFormatException(String message) {
    super(message);
  }
}
