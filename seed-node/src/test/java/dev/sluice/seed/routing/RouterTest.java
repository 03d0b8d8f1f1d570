package dev.sluice.seed.routing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RouterTest {
  static WorkerView w(String id, long outstanding) {
    return new WorkerView(id, "addr", "m", 8, 0, 0, outstanding, 100, 100);
  }

  final Router router = new Router(16, 2, 1.25);

  @Test
  void leastOutstandingTokensWinsWithoutAffinity() {
    List<WorkerView> ws = List.of(w("a", 500), w("b", 100), w("c", 300));
    assertThat(router.choose(ws, 0, 50, Set.of()).workerId()).isEqualTo("b");
    assertThat(router.choose(ws, 0, 50, Set.of("b")).workerId()).isEqualTo("c");
    assertThat(router.choose(ws, 0, 50, Set.of("a", "b", "c"))).isNull();
  }

  @Test
  void shortPromptsHaveNoAffinityKey() {
    assertThat(router.affinityKey("short")).isZero();
    assertThat(router.affinityKey("x".repeat(16))).isNotZero();
    // Only the leading blocks count: same first 32 chars => same key.
    String prefix = "You are a helpful assistant. ".repeat(2);
    assertThat(router.affinityKey(prefix + "question one"))
        .isEqualTo(router.affinityKey(prefix + "something else entirely"));
    assertThat(router.affinityKey("A" + prefix)).isNotEqualTo(router.affinityKey(prefix));
  }

  @Test
  void samePrefixGoesToTheSameWorkerWhileLoadsAreBalanced() {
    List<WorkerView> ws = List.of(w("a", 100), w("b", 100), w("c", 100), w("d", 100));
    Map<String, Integer> hits = new HashMap<>();
    for (int p = 0; p < 200; p++) {
      long key = router.affinityKey(("prompt family " + p + " ").repeat(4));
      String first = router.choose(ws, key, 10, Set.of()).workerId();
      // Deterministic: asking again gives the same worker.
      assertThat(router.choose(ws, key, 10, Set.of()).workerId()).isEqualTo(first);
      hits.merge(first, 1, Integer::sum);
    }
    // Different prefixes spread over every worker (consistent hashing with virtual nodes).
    assertThat(hits.keySet()).containsExactlyInAnyOrder("a", "b", "c", "d");
    assertThat(hits.values()).allSatisfy(n -> assertThat(n).isGreaterThan(20));
  }

  @Test
  void affinityYieldsWhenThePreferredWorkerIsOverTheBound() {
    long key = router.affinityKey("the shared system prompt of a tenant ".repeat(3));
    List<WorkerView> balanced = List.of(w("a", 100), w("b", 100), w("c", 100));
    String preferred = router.choose(balanced, key, 10, Set.of()).workerId();
    // Load the preferred worker beyond 1.25 x the mean: the request moves, to the next worker on
    // the ring that is within the bound.
    List<WorkerView> skewed =
        balanced.stream()
            .map(x -> x.workerId().equals(preferred) ? w(preferred, 1000) : x)
            .toList();
    String moved = router.choose(skewed, key, 10, Set.of()).workerId();
    assertThat(moved).isNotEqualTo(preferred);
    // Within the bound (1.2 x mean) it stays.
    List<WorkerView> mild =
        balanced.stream().map(x -> x.workerId().equals(preferred) ? w(preferred, 120) : x).toList();
    assertThat(router.choose(mild, key, 10, Set.of()).workerId()).isEqualTo(preferred);
  }

  @Test
  void boundedLoadKeepsEveryWorkerWithinTheBoundUnderSkewedTraffic() {
    // All requests share one prefix; outstanding work accumulates as they are placed.
    Map<String, Long> load = new HashMap<>(Map.of("a", 0L, "b", 0L, "c", 0L, "d", 0L));
    long key = router.affinityKey("one hot prefix for everyone ".repeat(3));
    for (int i = 0; i < 400; i++) {
      List<WorkerView> ws =
          load.entrySet().stream()
              .map(e -> w(e.getKey(), e.getValue()))
              .sorted((x, y) -> x.workerId().compareTo(y.workerId()))
              .toList();
      String chosen = router.choose(ws, key, 10, Set.of()).workerId();
      load.merge(chosen, 10L, Long::sum);
      long total = load.values().stream().mapToLong(Long::longValue).sum();
      assertThat(load.get(chosen)).isLessThanOrEqualTo((long) Math.ceil(1.25 * total / 4) + 10);
    }
    assertThat(load.values()).allSatisfy(v -> assertThat(v).isGreaterThan(0L));
  }
}
