package dev.sluice.engine.cuda;

/**
 * A CUDA driver call that did not return {@code CUDA_SUCCESS}. It names the failing call, the
 * driver's error code and name. {@link #fatal()} tells a worker whether the context is lost (a
 * kernel fault, an illegal address, a lost device: stop and let the scheduler move the work) or
 * whether only the current batch failed (for example out of memory while growing buffers).
 */
public final class CudaException extends RuntimeException {
  private final String call;
  private final int code;

  public CudaException(String call, int code, String errorName, String detail) {
    super(
        call
            + " failed: "
            + errorName
            + " ("
            + code
            + ")"
            + (detail == null || detail.isEmpty() ? "" : ": " + detail));
    this.call = call;
    this.code = code;
  }

  /** The driver API call that failed, e.g. {@code cuMemAlloc(67108864 bytes)}. */
  public String call() {
    return call;
  }

  /** The {@code CUresult} value. */
  public int code() {
    return code;
  }

  /**
   * Whether the context can no longer be used: illegal address (700), launch failure (719), assert
   * (710), illegal instruction (715), misaligned address (716), invalid PC (718), hardware stack
   * error (714), ECC (214), device lost / not ready in unrecoverable ways (999 unknown, 46 device
   * unavailable).
   */
  public boolean fatal() {
    return switch (code) {
      case 700, 710, 714, 715, 716, 717, 718, 719, 214, 46, 999 -> true;
      default -> false;
    };
  }
}
