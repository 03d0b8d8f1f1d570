package dev.sluice.seed.routing;

/**
 * One worker as the gateway sees it at one instant: its last {@code LoadReport} merged with the
 * gateway's own in-flight accounting. Reports lag by up to a second, so for every queue figure the
 * larger of the two is used: with one gateway its own count is exact and fresher; with several, the
 * report carries the others' work.
 *
 * @param queuedPrefillTokens prompt tokens waiting to be prefilled
 * @param queuedDecodeTokens completion tokens still to generate (upper bound: max_tokens)
 * @param requests sequences on the worker, running or waiting
 * @param prefillTokensPerSecond measured prefill rate (0 = not measured yet)
 * @param decodeTokensPerSecond measured aggregate decode rate (0 = not measured yet)
 */
public record WorkerView(
    String workerId,
    String address,
    String model,
    int maxSequences,
    int requests,
    long queuedPrefillTokens,
    long queuedDecodeTokens,
    double prefillTokensPerSecond,
    double decodeTokensPerSecond) {

  /** Outstanding work in tokens: what the router balances. */
  public long outstandingTokens() {
    return queuedPrefillTokens + queuedDecodeTokens;
  }
}
