package dev.sluice.seed.admission;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import dev.sluice.node.worker.WorkerProtocol.LoadReport;
import dev.sluice.seed.admission.AdmissionController.Admitted;
import dev.sluice.seed.admission.AdmissionController.Refused;
import dev.sluice.seed.admission.AdmissionController.Request;
import dev.sluice.seed.routing.Router;
import dev.sluice.seed.routing.WorkerPool;
import dev.sluice.seed.routing.WorkerView;
import java.util.List;
import org.junit.jupiter.api.Test;

class AdmissionControllerTest {
  static final long NOW = 1_000_000L;

  static AdmissionSettings settings(String extra) {
    return AdmissionSettings.fromConfig(
        ConfigFactory.parseString(extra)
            .withFallback(ConfigFactory.parseResources("reference.conf"))
            .resolve());
  }

  static LoadReport report(
      String id, int active, int waiting, long prefill, long decode, double p, double d) {
    return new LoadReport(
        id, "addr-" + id, "m", true, active, 4, waiting, prefill, decode, 100, 100, 16, p, d, NOW);
  }

  final WorkerPool pool = new WorkerPool(3000);
  final Router router = new Router(64, 4, 1.25);

  AdmissionController controller(String extra) {
    return new AdmissionController(settings(extra), pool, router);
  }

  static Request req(String tenant, long prompt, long max, long deadlineMs) {
    return new Request(tenant, "m", prompt, max, deadlineMs, 0);
  }

  @Test
  void predictedCompletionFollowsTheQueueModel() {
    QueueModel m = new QueueModel(100, 10);
    // Idle worker: 1000 prompt tokens at 1000/s = 1 s; 100 tokens at 100/s alone = 1 s.
    WorkerView idle = new WorkerView("a", "x", "m", 4, 0, 0, 0, 1000, 100);
    assertThat(m.predictedSeconds(idle, 1000, 100)).isEqualTo(2.0);
    // 3 running: 3000 prompt tokens to prefill (3 s), the 300 queued decode tokens drain at the
    // full 100/s (3 s), then ours share the device four ways: 100 tokens at 25/s = 4 s.
    WorkerView busy = new WorkerView("a", "x", "m", 4, 3, 2000, 300, 1000, 100);
    assertThat(m.predictedSeconds(busy, 1000, 100)).isEqualTo(3.0 + 3.0 + 4.0);
    // 8 sequences for 4 slots: 800 queued tokens drain in 8 s, ours then takes 4 s.
    WorkerView full = new WorkerView("a", "x", "m", 4, 8, 0, 800, 1000, 100);
    assertThat(m.predictedSeconds(full, 0, 100)).isEqualTo(8.0 + 4.0);
  }

  @Test
  void admitsWhenThePredictionFitsAndRefusesAtOnceWithRetryAfterWhenNot() {
    AdmissionController c = controller("");
    pool.onReport(report("w1", 0, 0, 0, 0, 1000, 100), NOW);
    var ok = c.admit(req("default", 100, 100, 5_000), NOW, 0);
    assertThat(ok).isInstanceOf(Admitted.class);
    assertThat(((Admitted) ok).predictedSeconds()).isEqualTo(0.1 + 1.0);
    // The admitted request is now counted: the same request with a 1.5 s deadline is predicted at
    // 0.2 s prefill + 1 s to drain the first + 100/50 = 2 s decode = 3.2 s and refused. Only 90%
    // of a deadline may be used (headroom): Retry-After = ceil(3.2 - 1.35) = 2.
    var no = c.admit(req("default", 100, 100, 1_500), NOW, 0);
    assertThat(no).isInstanceOf(Refused.class);
    Refused r = (Refused) no;
    assertThat(r.status()).isEqualTo(503);
    assertThat(r.reason()).isEqualTo("deadline_unmeetable");
    assertThat(r.retryAfterSeconds()).isEqualTo(2);
    // A longer miss gives a longer Retry-After: 201.2 s vs 90 s -> capped at 60.
    Refused far = (Refused) c.admit(req("default", 100, 10_000, 100_000), NOW, 0);
    assertThat(far.retryAfterSeconds()).isEqualTo(60);
    Refused mid = (Refused) c.admit(req("default", 100, 1000, 10_000), NOW, 0);
    // 0.2 + 1 + 1000/50 = 21.2 s predicted vs 9 s: Retry-After ceil(12.2) = 13.
    assertThat(mid.retryAfterSeconds()).isEqualTo(13);
  }

  @Test
  void startWaitCountsQueuedPromptsAndSlotTurnoversOnlyWhenEverySlotIsTaken() {
    QueueModel m = new QueueModel(100, 10);
    // 3 of 4 slots busy with long generations (6000 tokens left): a new request starts at once;
    // only the 500 queued prompt tokens (0.5 s at 1000/s) are ahead of it.
    assertThat(m.startSeconds(new WorkerView("a", "x", "m", 4, 3, 500, 6000, 1000, 100)))
        .isEqualTo(0.5);
    // 8 requests for 4 slots, 800 completion tokens: 100 per request, a slot frees every 1 s at
    // 100 tokens/s, and 5 must free (the 4 waiting ahead, then ours).
    assertThat(m.startSeconds(new WorkerView("a", "x", "m", 4, 8, 0, 800, 1000, 100)))
        .isEqualTo(5.0);
  }

  @Test
  void maxQueueDelayCapsTheWaitBeforeStartingWhateverTheDeadline() {
    // 4 slots all taken and 4 waiting, 100 completion tokens each at 100 tokens/s: ~5 s to start.
    pool.onReport(report("w1", 4, 4, 0, 800, 1000, 100), NOW);
    Request patient = req("default", 10, 10, 600_000);
    // With the cap off a 10-minute deadline admits it.
    assertThat(controller("sluice.admission.max-queue-delay = 0s").admit(patient, NOW, 0))
        .isInstanceOf(Admitted.class);
    pool.onReport(report("w1", 4, 4, 0, 800, 1000, 100), NOW);
    // A 3 s cap gives a standard request 85% of it, 2.55 s: refused as queue_full with
    // Retry-After = ceil(5 - 2.55) = 3 s.
    AdmissionController capped =
        controller(
            """
            sluice.admission.max-queue-delay = 3s
            sluice.admission.tenants.gold.priority = critical
            """);
    Refused r = (Refused) capped.admit(patient, NOW, 0);
    assertThat(r.status()).isEqualTo(503);
    assertThat(r.reason()).isEqualTo("queue_full");
    assertThat(r.retryAfterSeconds()).isEqualTo(3);
    assertThat(r.message())
        .contains("wait about 5.00 s to start")
        .contains("max-queue-delay allows standard requests (2.55 s)");
    // Once two requests have started (6 on the worker, 600 tokens), a standard one would wait
    // 3 x 100 / 100 = 3 s: still refused; a critical one may wait the full 3 s: admitted.
    pool.onReport(report("w1", 4, 2, 0, 600, 1000, 100), NOW);
    assertThat(capped.admit(patient, NOW, 0)).isInstanceOf(Refused.class);
    assertThat(capped.admit(req("gold", 10, 10, 600_000), NOW, 0)).isInstanceOf(Admitted.class);
  }

  @Test
  void aRequestWhoseWorkerDiedIsPlacedAgainWhateverTheWaitCap() {
    AdmissionController c = controller("sluice.admission.max-queue-delay = 1s");
    pool.onReport(report("w1", 0, 0, 0, 0, 1000, 100), NOW);
    pool.onReport(report("w2", 4, 4, 0, 800, 1000, 100), NOW);
    Admitted a = (Admitted) c.admit(req("default", 10, 10, 600_000), NOW, 0);
    assertThat(a.worker().workerId()).isEqualTo("w1");
    // w1 died: w2 would make a new request wait ~5 s to start (refused under a 1 s cap, see
    // above), but this one was accepted already and its deadline allows the wait.
    var again = c.reroute(a.ticket(), List.of("w1"), NOW);
    assertThat(again).isInstanceOf(Admitted.class);
    assertThat(((Admitted) again).worker().workerId()).isEqualTo("w2");
  }

  @Test
  void maxQueueDelayDoesNotRefuseAWorkerWithFreeSlotsHoweverLongItsGenerations() {
    // 2 of 4 slots decoding 5000 tokens each: 100 s of backlog, but a new request starts at once.
    pool.onReport(report("w1", 2, 0, 0, 10_000, 1000, 100), NOW);
    assertThat(controller("").settings().maxQueueDelayMs()).isEqualTo(2000);
    assertThat(controller("").admit(req("default", 10, 10, 600_000), NOW, 0))
        .isInstanceOf(Admitted.class);
  }

  @Test
  void aNegativeMaxQueueDelayIsRefusedByName() {
    assertThatThrownBy(() -> controller("sluice.admission.max-queue-delay = -1s"))
        .hasMessageContaining("sluice.admission.max-queue-delay");
  }

  @Test
  void queueBoundInTokensShedsTheLowestPriorityFirst() {
    AdmissionController c =
        controller(
            """
            sluice.admission.max-queued-tokens-per-worker = 10000
            sluice.admission.tenants {
              gold { priority = critical }
              batch { priority = sheddable }
            }
            """);
    // 7000 tokens outstanding: sheddable may fill 6000, standard 8500, critical 10000.
    pool.onReport(report("w1", 1, 0, 0, 7000, 1e6, 1e6), NOW);
    Refused shed = (Refused) c.admit(req("batch", 500, 500, 60_000), NOW, 0);
    assertThat(shed.status()).isEqualTo(503);
    assertThat(shed.reason()).isEqualTo("queue_full");
    assertThat(shed.retryAfterSeconds()).isEqualTo(1);
    assertThat(c.admit(req("default", 500, 500, 60_000), NOW, 0)).isInstanceOf(Admitted.class);
    // Now 8000: standard (8500) has no room for 1000 more, critical does.
    assertThat(c.admit(req("default", 500, 500, 60_000), NOW, 0)).isInstanceOf(Refused.class);
    assertThat(c.admit(req("gold", 500, 500, 60_000), NOW, 0)).isInstanceOf(Admitted.class);
    // A fresh report (9000 outstanding, 100 tokens/s) replaces the gateway's own counts.
    pool.onReport(report("w1", 1, 0, 0, 9000, 100, 100), NOW);
    assertThat(c.admit(req("gold", 500, 500, 600_000), NOW, 0)).isInstanceOf(Admitted.class);
    // 10000 outstanding: 1000 tokens over even the critical bound. Retry-After = excess / the
    // slower rate = 1000 / 100 = 10 s.
    Refused full = (Refused) c.admit(req("gold", 500, 500, 600_000), NOW, 0);
    assertThat(full.reason()).isEqualTo("queue_full");
    assertThat(full.retryAfterSeconds()).isEqualTo(10);
  }

  @Test
  void tenantQuotaIsATokenBucketAnswered429WithTheRefillTime() {
    AdmissionController c =
        controller(
            """
            sluice.admission.tenants.small { priority = standard, tokens-per-second = 100, burst-tokens = 300 }
            """);
    pool.onReport(report("w1", 0, 0, 0, 0, 1e6, 1e6), NOW);
    long t0 = 5_000_000_000L;
    assertThat(c.admit(req("small", 100, 100, 60_000), NOW, t0)).isInstanceOf(Admitted.class);
    // 100 left in the bucket; 200 needed -> 429 after (200 - 100) / 100 = 1 s.
    Refused r = (Refused) c.admit(req("small", 100, 100, 60_000), NOW, t0);
    assertThat(r.status()).isEqualTo(429);
    assertThat(r.reason()).isEqualTo("tenant_quota");
    assertThat(r.retryAfterSeconds()).isEqualTo(1);
    // Other tenants are not affected.
    assertThat(c.admit(req("default", 100, 100, 60_000), NOW, t0)).isInstanceOf(Admitted.class);
    // One second later the bucket holds 200 again.
    assertThat(c.admit(req("small", 100, 100, 60_000), NOW, t0 + 1_000_000_000L))
        .isInstanceOf(Admitted.class);
    // 250 needed, 0 in the bucket: ceil(2.5 s).
    assertThat(
            ((Refused) c.admit(req("small", 100, 150, 60_000), NOW, t0 + 1_000_000_000L))
                .retryAfterSeconds())
        .isEqualTo(3);
    // More than the whole bucket can never pass: 429 tenant_burst with the longest Retry-After.
    Refused burst = (Refused) c.admit(req("small", 100, 400, 60_000), NOW, t0 + 9_000_000_000L);
    assertThat(burst.reason()).isEqualTo("tenant_burst");
    assertThat(burst.retryAfterSeconds()).isEqualTo(60);
  }

  @Test
  void unusedQuotaIsRefundedAndCapacityRefusalsCostNoQuota() {
    AdmissionController c =
        controller(
            """
            sluice.admission.tenants.small { priority = standard, tokens-per-second = 1, burst-tokens = 300 }
            """);
    pool.onReport(report("w1", 0, 0, 0, 0, 1000, 100), NOW);
    Admitted a = (Admitted) c.admit(req("small", 100, 200, 60_000), NOW, 0);
    assertThat(c.admit(req("small", 100, 200, 60_000), NOW, 0)).isInstanceOf(Refused.class);
    // It used only 100 + 20 tokens: 180 come back.
    c.release(a.ticket(), 120, 0);
    c.release(a.ticket(), 120, 0); // idempotent
    assertThat(c.admit(req("small", 50, 100, 60_000), NOW, 0)).isInstanceOf(Admitted.class);
    assertThat(c.admit(req("small", 10, 30, 60_000), NOW, 0)).isInstanceOf(Refused.class);
  }

  @Test
  void noReadyWorkerIs503WithTheConfiguredRetryAfter() {
    AdmissionController c = controller("");
    Refused r = (Refused) c.admit(req("default", 10, 10, 60_000), NOW, 0);
    assertThat(r.status()).isEqualTo(503);
    assertThat(r.reason()).isEqualTo("no_worker");
    assertThat(r.retryAfterSeconds()).isEqualTo(5);
    // A stale report does not count.
    pool.onReport(report("w1", 0, 0, 0, 0, 1000, 100), NOW);
    assertThat(c.admit(req("default", 10, 10, 60_000), NOW + 3001, 0)).isInstanceOf(Refused.class);
    assertThat(c.admit(req("default", 10, 10, 60_000), NOW + 2000, 0)).isInstanceOf(Admitted.class);
    pool.nodeGone("addr-w1");
    assertThat(c.admit(req("default", 10, 10, 60_000), NOW + 2000, 0)).isInstanceOf(Refused.class);
  }

  @Test
  void rerouteExcludesTheFailedWorkerAndChargesNoQuotaTwice() {
    AdmissionController c =
        controller(
            """
            sluice.admission.tenants.small { priority = standard, tokens-per-second = 1, burst-tokens = 200 }
            """);
    pool.onReport(report("w1", 0, 0, 0, 0, 1000, 100), NOW);
    pool.onReport(report("w2", 0, 0, 0, 50, 1000, 100), NOW);
    Admitted a = (Admitted) c.admit(req("small", 100, 100, 60_000), NOW, 0);
    assertThat(a.worker().workerId()).isEqualTo("w1");
    Admitted again = (Admitted) c.reroute(a.ticket(), List.of("w1"), NOW);
    assertThat(again.worker().workerId()).isEqualTo("w2");
    assertThat(c.reroute(a.ticket(), java.util.List.of("w1", "w2"), NOW))
        .isInstanceOf(Refused.class);
  }
}
