package dev.sluice.seed.admission;

import dev.sluice.seed.routing.Router;
import dev.sluice.seed.routing.WorkerPool;
import dev.sluice.seed.routing.WorkerView;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Admission control: decides at once, before any tokenizing or queueing, whether a request can be
 * served within its deadline, and if so on which worker. Plain Java (time is passed in), guarded by
 * one lock; the gateway's actors and routes only call it.
 *
 * <p>Order of checks: the tenant's token bucket (429 {@code tenant_quota}, Retry-After = time until
 * the bucket holds the request); a ready worker for the model (503 {@code no_worker}); the chosen
 * worker's queue bound in tokens scaled by the tenant's priority share (503 {@code queue_full},
 * Retry-After = time to drain the excess); the predicted wait before the request starts against
 * {@code max-queue-delay}, scaled the same way (503 {@code queue_full}, Retry-After = the excess
 * wait); the predicted completion time against the deadline (503 {@code deadline_unmeetable},
 * Retry-After = predicted excess). An admitted request is counted in the {@link WorkerPool}
 * immediately, so concurrent admissions see each other. Nothing here queues: the only queues are
 * the workers', bounded by {@code maxQueuedTokensPerWorker}.
 */
public final class AdmissionController {
  private final AdmissionSettings settings;
  private final WorkerPool pool;
  private final Router router;
  private final QueueModel model;
  private final Map<String, TokenBucket> buckets = new HashMap<>();

  public AdmissionController(AdmissionSettings settings, WorkerPool pool, Router router) {
    this.settings = settings;
    this.pool = pool;
    this.router = router;
    this.model = new QueueModel(settings.fallbackPrefillRate(), settings.fallbackDecodeRate());
  }

  public AdmissionSettings settings() {
    return settings;
  }

  public WorkerPool pool() {
    return pool;
  }

  /** The policy of a tenant (unknown tenants get the {@code default} tenant's policy). */
  public TenantPolicy policy(String tenant) {
    TenantPolicy p = settings.tenants().get(tenant);
    if (p == null) {
      TenantPolicy d = settings.tenants().get(AdmissionSettings.DEFAULT_TENANT);
      p = new TenantPolicy(tenant, d.priority(), d.tokensPerSecond(), d.burstTokens());
    }
    return p;
  }

  /**
   * What admission needs to know of a request.
   *
   * @param promptTokens the gateway's estimate (the worker reports the exact count)
   * @param deadlineMs the time budget from now
   * @param affinityKey {@link Router#affinityKey}, 0 for none
   */
  public record Request(
      String tenant,
      String model,
      long promptTokens,
      long maxTokens,
      long deadlineMs,
      long affinityKey) {}

  /** The outcome of {@link #admit}. */
  public sealed interface Decision permits Admitted, Refused {}

  /** Admitted: send it to {@code worker}; call {@link #release} exactly once when it ends. */
  public record Admitted(Ticket ticket, WorkerView worker, double predictedSeconds, long epoch)
      implements Decision {}

  /**
   * Refused, with the HTTP status (429 or 503), the {@code X-Sluice-Reason}, a message for the
   * client and the {@code Retry-After} in whole seconds (&ge; 1).
   */
  public record Refused(int status, String reason, String message, int retryAfterSeconds)
      implements Decision {}

  /** An admitted request's accounting. */
  public static final class Ticket {
    final String tenant;
    final Priority priority;
    final double charged;
    final long promptTokens;
    final long maxTokens;
    final long deadlineEpochMs;
    final long affinityKey;
    final String model;
    private boolean released;

    Ticket(Request r, Priority priority, double charged, long deadlineEpochMs) {
      this.tenant = r.tenant();
      this.priority = priority;
      this.charged = charged;
      this.promptTokens = r.promptTokens();
      this.maxTokens = r.maxTokens();
      this.deadlineEpochMs = deadlineEpochMs;
      this.affinityKey = r.affinityKey();
      this.model = r.model();
    }

    public Priority priority() {
      return priority;
    }

    public long deadlineEpochMs() {
      return deadlineEpochMs;
    }

    public long promptTokens() {
      return promptTokens;
    }

    public long maxTokens() {
      return maxTokens;
    }
  }

  /** Decides on a new request at {@code nowMs} (epoch ms) / {@code nowNanos} (monotonic). */
  public synchronized Decision admit(Request r, long nowMs, long nowNanos) {
    TenantPolicy policy = policy(r.tenant());
    double cost = r.promptTokens() + r.maxTokens();
    if (policy.limited()) {
      TokenBucket b =
          buckets.computeIfAbsent(
              r.tenant(),
              t -> new TokenBucket(policy.tokensPerSecond(), policy.burstTokens(), nowNanos));
      double wait = b.tryTake(cost, nowNanos);
      if (Double.isInfinite(wait)) {
        return new Refused(
            429,
            "tenant_burst",
            "This request counts "
                + (long) cost
                + " tokens (prompt + max_tokens), more than tenant '"
                + r.tenant()
                + "' may use at once ("
                + (long) policy.burstTokens()
                + "); lower max_tokens.",
            settings.maxRetryAfterSeconds());
      }
      if (wait > 0) {
        return new Refused(
            429,
            "tenant_quota",
            "Tenant '"
                + r.tenant()
                + "' is over its quota of "
                + (long) policy.tokensPerSecond()
                + " tokens/s (this request counts "
                + (long) cost
                + " tokens: prompt + max_tokens).",
            retryAfter(wait));
      }
    }
    Ticket t =
        new Ticket(r, policy.priority(), policy.limited() ? cost : 0, nowMs + r.deadlineMs());
    Decision d = place(t, Set.of(), nowMs, true);
    if (d instanceof Refused && policy.limited()) {
      buckets.get(r.tenant()).refund(cost, nowNanos);
    }
    return d;
  }

  /**
   * Places an admitted request again, on a worker not in {@code exclude} (its first worker died
   * before streaming). Quota is not charged twice; the deadline stays. The wait cap ({@code
   * max-queue-delay}) does not apply: it protects recovery from new work, while this request was
   * accepted already and is owed a completion whenever its deadline still allows one.
   */
  public synchronized Decision reroute(Ticket t, Collection<String> exclude, long nowMs) {
    return place(t, exclude, nowMs, false);
  }

  private Decision place(Ticket t, Collection<String> exclude, long nowMs, boolean capWait) {
    List<WorkerView> ready = pool.ready(t.model, nowMs);
    ready = ready.stream().filter(w -> !exclude.contains(w.workerId())).toList();
    if (ready.isEmpty()) {
      return new Refused(
          503,
          "no_worker",
          "No worker serving model '" + t.model + "' is ready; try again shortly.",
          settings.noWorkerRetryAfterSeconds());
    }
    long tokens = t.promptTokens + t.maxTokens;
    WorkerView first = router.choose(ready, t.affinityKey, tokens, Set.of());
    WorkerView least = Router.leastOutstanding(ready);
    Refused refusal = null;
    for (WorkerView w : first == least ? List.of(first) : List.of(first, least)) {
      Decision d = check(t, w, nowMs, capWait);
      if (d instanceof Admitted a) {
        long epoch = pool.dispatched(w.workerId(), t.promptTokens, t.maxTokens);
        return new Admitted(t, w, a.predictedSeconds(), epoch);
      }
      if (refusal == null || ((Refused) d).retryAfterSeconds() < refusal.retryAfterSeconds()) {
        refusal = (Refused) d;
      }
    }
    return refusal;
  }

  private Decision check(Ticket t, WorkerView w, long nowMs, boolean capWait) {
    long tokens = t.promptTokens + t.maxTokens;
    double bound = settings.maxQueuedTokensPerWorker() * t.priority.queueShare();
    long excess = (long) Math.ceil(w.outstandingTokens() + tokens - bound);
    if (excess > 0) {
      return new Refused(
          503,
          "queue_full",
          "Over capacity: the queues for model '"
              + t.model
              + "' are full for "
              + t.priority.label()
              + " requests; retry after the indicated delay.",
          retryAfter(model.secondsToDrain(w, excess)));
    }
    if (capWait && settings.maxQueueDelayMs() > 0) {
      // The wait before the request starts, capped (per priority class, like the token bound):
      // this bounds the backlog an overload leaves behind, hence how soon latency recovers once
      // the load falls, without refusing requests that a worker with free slots starts at once.
      double wait = model.startSeconds(w);
      double cap = settings.maxQueueDelayMs() / 1000.0 * t.priority.queueShare();
      if (wait > cap) {
        return new Refused(
            503,
            "queue_full",
            String.format(
                "Over capacity: a request for model '%s' would wait about %.2f s to start, more"
                    + " than sluice.admission.max-queue-delay allows %s requests (%.2f s); retry"
                    + " after the indicated delay.",
                t.model, wait, t.priority.label(), cap),
            retryAfter(wait - cap));
      }
    }
    double predicted = model.predictedSeconds(w, t.promptTokens, t.maxTokens);
    double budget = (t.deadlineEpochMs - nowMs) / 1000.0 * settings.deadlineHeadroom();
    if (predicted > budget) {
      return new Refused(
          503,
          "deadline_unmeetable",
          String.format(
              "Over capacity: predicted completion in %.2f s misses the deadline of %.2f s"
                  + " (X-Sluice-Deadline-Ms); retry after the indicated delay.",
              predicted, budget),
          retryAfter(model.secondsUntilFits(predicted, budget)));
    }
    return new Admitted(t, w, predicted, 0);
  }

  /**
   * The request ended; {@code usedTokens} is what it actually consumed (prompt + generated), so a
   * tenant is charged for real use and refunded the rest. Idempotent.
   */
  public synchronized void release(Ticket t, long usedTokens, long nowNanos) {
    if (t.released) {
      return;
    }
    t.released = true;
    if (t.charged > 0) {
      TokenBucket b = buckets.get(t.tenant);
      double refund = t.charged - usedTokens;
      if (b != null && refund > 0) {
        b.refund(refund, nowNanos);
      }
    }
  }

  private int retryAfter(double seconds) {
    return (int) Math.max(1, Math.min(settings.maxRetryAfterSeconds(), Math.ceil(seconds)));
  }
}
