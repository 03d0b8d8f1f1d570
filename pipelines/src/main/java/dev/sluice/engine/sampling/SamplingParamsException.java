package dev.sluice.engine.sampling;

/**
 * An invalid sampling parameter. {@link #parameter()} is the request field's name (as in the OpenAI
 * API, e.g. {@code top_p}), so that the gateway can answer 400 with the OpenAI error's {@code
 * param}; the message says the bound and the value received.
 */
public final class SamplingParamsException extends IllegalArgumentException {
  private final String parameter;

  public SamplingParamsException(String parameter, String message) {
    super(message);
    this.parameter = parameter;
  }

  /** The offending request field, e.g. {@code temperature}. */
  public String parameter() {
    return parameter;
  }
}
