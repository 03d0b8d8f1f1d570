package dev.sluice.seed.routing;

import dev.sluice.node.worker.WorkerProtocol.LoadReport;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The gateway's table of workers: their last load reports and the gateway's own in-flight work on
 * each. Thread-safe (one lock; every operation is a few field updates), so HTTP threads route and
 * admit without an actor round trip, which keeps refusals fast.
 *
 * <p>A worker counts as ready while its last report says so and is younger than {@code staleMs}; a
 * worker whose node left the cluster is dropped at once ({@link #nodeGone}).
 */
public final class WorkerPool {
  private final long staleMs;
  private final Map<String, Entry> workers = new HashMap<>();
  private final Map<String, Long> modelsSeen = new HashMap<>();

  /**
   * A worker's last report plus the gateway's own corrections since: work it dispatched since the
   * report ({@code since*}, not yet in the report) and progress it saw on work dispatched before
   * the report ({@code drained*}, still counted in the report). So between reports the view moves
   * with every dispatch and chunk instead of lagging a second; other gateways' work is seen through
   * the reports.
   */
  private static final class Entry {
    LoadReport report;
    long seenMs;
    long epoch;
    long sincePrefill;
    long sinceDecode;
    int sinceRequests;
    long drainedPrefill;
    long drainedDecode;
    int drainedRequests;
    boolean gone;
  }

  public WorkerPool(long staleMs) {
    this.staleMs = staleMs;
  }

  /** Records a worker's load report (received at {@code nowMs}, local clock). */
  public synchronized void onReport(LoadReport r, long nowMs) {
    Entry e = workers.computeIfAbsent(r.workerId(), k -> new Entry());
    e.report = r;
    e.seenMs = nowMs;
    e.gone = false;
    e.epoch++;
    e.sincePrefill = e.sinceDecode = e.drainedPrefill = e.drainedDecode = 0;
    e.sinceRequests = e.drainedRequests = 0;
    modelsSeen.put(r.model(), nowMs);
  }

  /** Every worker on the node at {@code address} is gone (the node left or is unreachable). */
  public synchronized void nodeGone(String address) {
    for (Entry e : workers.values()) {
      if (e.report != null && address.equals(e.report.address())) {
        e.gone = true;
      }
    }
  }

  /** Whether any worker ever reported serving {@code model}. */
  public synchronized boolean knowsModel(String model) {
    return modelsSeen.containsKey(model);
  }

  /** The models reported by ready workers, sorted. */
  public synchronized List<String> readyModels(long nowMs) {
    return workers.values().stream()
        .filter(e -> e.report != null && ready(e, nowMs))
        .map(e -> e.report.model())
        .distinct()
        .sorted()
        .toList();
  }

  /** Whether the worker is known, not gone, and reported recently. */
  public synchronized boolean alive(String workerId, long nowMs) {
    Entry e = workers.get(workerId);
    return e != null && !e.gone && nowMs - e.seenMs <= staleMs;
  }

  private boolean ready(Entry e, long nowMs) {
    return !e.gone && e.report.ready() && nowMs - e.seenMs <= staleMs;
  }

  /** Snapshots of the ready workers serving {@code model}, ordered by worker id. */
  public synchronized List<WorkerView> ready(String model, long nowMs) {
    List<WorkerView> out = new ArrayList<>();
    for (Map.Entry<String, Entry> me : workers.entrySet()) {
      Entry e = me.getValue();
      if (e.report != null && ready(e, nowMs) && e.report.model().equals(model)) {
        out.add(view(e));
      }
    }
    out.sort((a, b) -> a.workerId().compareTo(b.workerId()));
    return out;
  }

  private static WorkerView view(Entry e) {
    LoadReport r = e.report;
    return new WorkerView(
        r.workerId(),
        r.address(),
        r.model(),
        r.maxSequences(),
        Math.max(
            0, r.activeSequences() + r.waitingRequests() + e.sinceRequests - e.drainedRequests),
        Math.max(0, r.queuedPromptTokens() + e.sincePrefill - e.drainedPrefill),
        Math.max(0, r.queuedDecodeTokens() + e.sinceDecode - e.drainedDecode),
        r.prefillTokensPerSecond(),
        r.decodeTokensPerSecond());
  }

  /**
   * The gateway sent a request to the worker; returns the epoch (report count) to pass to the
   * progress calls below.
   */
  public synchronized long dispatched(String workerId, long promptTokens, long maxTokens) {
    Entry e = workers.computeIfAbsent(workerId, k -> new Entry());
    e.sincePrefill += promptTokens;
    e.sinceDecode += maxTokens;
    e.sinceRequests++;
    return e.epoch;
  }

  /**
   * The worker reported the request's real prompt size ({@code Accepted}): the gateway's estimate
   * {@code estimated}, counted at {@link #dispatched}, becomes {@code actual}. Until the next load
   * report the gateway's own count carries the difference; after one, the report does (the worker
   * counts real tokens from its prefetch on), so nothing is left to correct.
   */
  public synchronized void corrected(String workerId, long epoch, long estimated, long actual) {
    Entry e = workers.get(workerId);
    if (e != null && epoch == e.epoch) {
      e.sincePrefill = Math.max(0, e.sincePrefill + actual - estimated);
    }
  }

  /** The request's prompt was prefilled (its first chunk arrived). */
  public synchronized void prefilled(String workerId, long epoch, long promptTokens) {
    progress(workerId, epoch, promptTokens, 0, 0);
  }

  /** {@code tokens} more completion tokens were generated. */
  public synchronized void decoded(String workerId, long epoch, long tokens) {
    progress(workerId, epoch, 0, tokens, 0);
  }

  /** The request left the worker; {@code prefillLeft}/{@code decodeLeft} are what it still held. */
  public synchronized void finished(
      String workerId, long epoch, long prefillLeft, long decodeLeft) {
    progress(workerId, epoch, prefillLeft, decodeLeft, 1);
  }

  private void progress(String workerId, long epoch, long prefill, long decode, int requests) {
    Entry e = workers.get(workerId);
    if (e == null) {
      return;
    }
    if (epoch == e.epoch) {
      e.sincePrefill = Math.max(0, e.sincePrefill - prefill);
      e.sinceDecode = Math.max(0, e.sinceDecode - decode);
      e.sinceRequests = Math.max(0, e.sinceRequests - requests);
    } else {
      e.drainedPrefill += prefill;
      e.drainedDecode += decode;
      e.drainedRequests += requests;
    }
  }
}
