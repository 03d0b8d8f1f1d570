package dev.sluice.engine.tokenizer;

/** A tokenizer that cannot be built from a model file: unknown type, missing or bad metadata. */
public final class TokenizerException extends RuntimeException {
  public TokenizerException(String message) {
    super(message);
  }
}
