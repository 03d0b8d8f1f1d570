package dev.sluice.seed.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.node.worker.WorkerProtocol.LoadReport;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The gateway's queue accounting in tokens: admission counts a prompt by its estimate, the worker's
 * Accepted replaces it with the tokenizer's count, and prefill, decode and the end take back what
 * was counted, so the queue never goes negative and returns to what the worker reported.
 */
class WorkerPoolAccountingTest {
  private static final String W = "w-0";

  private static LoadReport report(long queuedPrompt, long queuedDecode) {
    return new LoadReport(
        W, "addr", "m", true, 0, 8, 0, queuedPrompt, queuedDecode, 100, 100, 16, 1000, 100, 0);
  }

  private static WorkerView view(WorkerPool pool) {
    List<WorkerView> ready = pool.ready("m", 0);
    assertThat(ready).hasSize(1);
    WorkerView v = ready.get(0);
    assertThat(v.queuedPrefillTokens()).as("queued prompt tokens").isNotNegative();
    assertThat(v.queuedDecodeTokens()).as("queued decode tokens").isNotNegative();
    assertThat(v.requests()).isNotNegative();
    return v;
  }

  /** One request's life: dispatch (estimate), Accepted (real count), first chunk, chunks, end. */
  private static void runRequest(WorkerPool pool, long estimate, long real, long maxTokens) {
    long epoch = pool.dispatched(W, estimate, maxTokens);
    assertThat(view(pool).queuedPrefillTokens()).isEqualTo(estimate);
    pool.corrected(W, epoch, estimate, real);
    assertThat(view(pool).queuedPrefillTokens()).isEqualTo(real);
    pool.prefilled(W, epoch, real);
    assertThat(view(pool).queuedPrefillTokens()).isZero();
    pool.decoded(W, epoch, maxTokens / 2);
    view(pool);
    pool.finished(W, epoch, 0, maxTokens - maxTokens / 2);
  }

  @Test
  void theRealPromptSizeReplacesTheEstimateAndEverythingReturnsToZero() {
    WorkerPool pool = new WorkerPool(60_000);
    pool.onReport(report(0, 0), 0);
    runRequest(pool, 40, 12, 64); // over-estimated (English text)
    runRequest(pool, 10, 30, 64); // under-estimated (digits, symbols)
    WorkerView v = view(pool);
    assertThat(v.queuedPrefillTokens()).isZero();
    assertThat(v.queuedDecodeTokens()).isZero();
    assertThat(v.requests()).isZero();
  }

  @Test
  void concurrentRequestsCorrectedInAnyOrderReturnToZero() {
    WorkerPool pool = new WorkerPool(60_000);
    pool.onReport(report(0, 0), 0);
    long e1 = pool.dispatched(W, 100, 10);
    long e2 = pool.dispatched(W, 5, 10);
    pool.corrected(W, e2, 5, 50);
    assertThat(view(pool).queuedPrefillTokens()).isEqualTo(150);
    pool.corrected(W, e1, 100, 20);
    assertThat(view(pool).queuedPrefillTokens()).isEqualTo(70);
    // The second fails before its first chunk: its real prompt leaves the queue with it.
    pool.finished(W, e2, 50, 10);
    assertThat(view(pool).queuedPrefillTokens()).isEqualTo(20);
    pool.prefilled(W, e1, 20);
    pool.decoded(W, e1, 10);
    pool.finished(W, e1, 0, 0);
    WorkerView v = view(pool);
    assertThat(v.queuedPrefillTokens()).isZero();
    assertThat(v.queuedDecodeTokens()).isZero();
    assertThat(v.requests()).isZero();
  }

  @Test
  void aLoadReportBetweenDispatchAndAcceptedTakesOverTheCount() {
    WorkerPool pool = new WorkerPool(60_000);
    pool.onReport(report(0, 0), 0);
    long epoch = pool.dispatched(W, 40, 64);
    // The worker's report now includes the request with its real prompt size.
    pool.onReport(report(12, 64), 0);
    pool.corrected(W, epoch, 40, 12); // already in the report: nothing to correct
    assertThat(view(pool).queuedPrefillTokens()).isEqualTo(12);
    pool.prefilled(W, epoch, 12);
    pool.decoded(W, epoch, 64);
    pool.finished(W, epoch, 0, 0);
    WorkerView v = view(pool);
    assertThat(v.queuedPrefillTokens()).isZero();
    assertThat(v.queuedDecodeTokens()).isZero();
    assertThat(v.requests()).isZero();
    // The worker's next report says the same.
    pool.onReport(report(0, 0), 0);
    assertThat(view(pool).outstandingTokens()).isZero();
  }
}
