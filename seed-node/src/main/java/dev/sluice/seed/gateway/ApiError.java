package dev.sluice.seed.gateway;

/**
 * An error answered in OpenAI's shape {@code {"error":{"message","type","param","code"}}} with an
 * exact HTTP status. Thrown by request parsing, produced from admission refusals and worker
 * failures; translated to HTTP in one place ({@link HttpApi}).
 *
 * @param retryAfterSeconds the {@code Retry-After} header, or 0 for none
 * @param reason the {@code X-Sluice-Reason} header, or null for none
 */
public record ApiError(
    int status,
    String type,
    String code,
    String param,
    String message,
    int retryAfterSeconds,
    String reason) {

  /** 400: the body is not what the endpoint takes (syntax, types, missing fields). */
  public static ApiError invalid(String param, String message) {
    return new ApiError(400, "invalid_request_error", "invalid_request", param, message, 0, null);
  }

  /** 422: well-formed, but a value is out of its bounds. */
  public static ApiError outOfBounds(String param, String message) {
    return new ApiError(422, "invalid_request_error", "out_of_bounds", param, message, 0, null);
  }

  /** The exception form, for parsing code. */
  public Failure failure() {
    return new Failure(this);
  }

  /** Carries an {@link ApiError} out of parsing code. */
  public static final class Failure extends RuntimeException {
    private final ApiError error;

    Failure(ApiError error) {
      super(error.message(), null, false, false);
      this.error = error;
    }

    public ApiError error() {
      return error;
    }
  }
}
