package dev.sluice.node.worker;

import dev.sluice.node.metrics.SluiceMetrics;
import dev.sluice.pipeline.DeviceLoop;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.datapoints.GaugeDataPoint;

/**
 * The engine-side series of one worker (one device): batch size per step, prompt and generated
 * token counters, KV blocks used and free, measured rates, busy time, queued requests and prompt
 * tokens, model load time. Every labelled child is resolved once here, so the per-step and
 * per-chunk updates are a few atomic adds and no allocation.
 *
 * <p>Threads: {@link #onStep} runs on the device thread, everything else on the worker actor. The
 * queue gauges are labelled by model only, and several workers of one node may serve the same
 * model, so each worker adds the change of its own share ({@link #queued}) instead of setting the
 * gauge, and takes its share back when it stops ({@link #close}).
 */
final class WorkerMetrics implements DeviceLoop.StepListener {
  private final SluiceMetrics metrics;
  private final String model;
  private final String device;
  private final DistributionDataPoint batchSize;
  private final CounterDataPoint promptTokens;
  private final CounterDataPoint generatedTokens;
  private final GaugeDataPoint kvUsed;
  private final GaugeDataPoint kvFree;
  private final GaugeDataPoint queuedRequests;
  private final GaugeDataPoint queuedTokens;
  private final GaugeDataPoint prefillRate;
  private final GaugeDataPoint decodeRate;
  private final CounterDataPoint busySeconds;
  // Device thread only.
  private long lastPromptTokens;
  // Actor thread only.
  private long reportedBusyNanos;
  private long sharedRequests;
  private long sharedTokens;

  WorkerMetrics(SluiceMetrics metrics, String model, String device) {
    this.metrics = metrics;
    this.model = model;
    this.device = device;
    this.batchSize = metrics.batchSize.labelValues(device);
    this.promptTokens = metrics.promptTokens.labelValues(model);
    this.generatedTokens = metrics.generatedTokens.labelValues(model);
    this.kvUsed = metrics.kvBlocksUsed.labelValues(device);
    this.kvFree = metrics.kvBlocksFree.labelValues(device);
    this.queuedRequests = metrics.queuedRequests.labelValues(model);
    this.queuedTokens = metrics.queuedTokens.labelValues(model);
    this.prefillRate = metrics.deviceTokensPerSecond.labelValues(device, "prefill");
    this.decodeRate = metrics.deviceTokensPerSecond.labelValues(device, "decode");
    this.busySeconds = metrics.deviceBusySeconds.labelValues(device);
  }

  @Override
  public void onStep(
      int sequences, long promptTokensProcessed, int freeKvBlocks, int totalKvBlocks) {
    if (sequences > 0) {
      batchSize.observe(sequences);
    }
    long p = promptTokensProcessed - lastPromptTokens;
    if (p > 0) {
      promptTokens.inc(p);
    }
    lastPromptTokens = promptTokensProcessed;
    kvFree.set(freeKvBlocks);
    kvUsed.set(totalKvBlocks - freeKvBlocks);
  }

  /** Tokens delivered to a client (one chunk's worth). */
  void generated(int tokens) {
    if (tokens > 0) {
      generatedTokens.inc(tokens);
    }
  }

  /** This worker's queue now: requests not yet running and their prompt tokens. */
  void queued(long requests, long tokens) {
    if (requests != sharedRequests) {
      queuedRequests.inc(requests - sharedRequests);
      sharedRequests = requests;
    }
    if (tokens != sharedTokens) {
      queuedTokens.inc(tokens - sharedTokens);
      sharedTokens = tokens;
    }
  }

  /** The rates this worker reports to admission, in tokens per second of busy time. */
  void rates(double prefill, double decode) {
    prefillRate.set(prefill);
    decodeRate.set(decode);
  }

  /** The device's busy time so far (prefill + decode steps, from its loop's stats). */
  void busy(long totalBusyNanos) {
    if (totalBusyNanos > reportedBusyNanos) {
      busySeconds.inc((totalBusyNanos - reportedBusyNanos) / 1e9);
      reportedBusyNanos = totalBusyNanos;
    }
  }

  /** The model took {@code nanos} to load onto this worker's device. */
  void loaded(long nanos) {
    metrics.modelLoadDuration.labelValues(model).set(nanos / 1e9);
  }

  /**
   * The worker stopped: its queue share goes, and so do its device's KV series (no pool, no blocks;
   * a late step of the closing device thread updates only the detached children).
   */
  void close() {
    queued(0, 0);
    metrics.kvBlocksUsed.remove(device);
    metrics.kvBlocksFree.remove(device);
    metrics.deviceTokensPerSecond.remove(device, "prefill");
    metrics.deviceTokensPerSecond.remove(device, "decode");
    metrics.deviceBusySeconds.remove(device);
  }
}
