package dev.sluice.seed.routing;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;

/**
 * Chooses a worker for a request: prefix affinity through consistent hashing with bounded loads
 * (Mirrokni, Thorup, Zadimoghaddam 2018), else the least outstanding work in tokens.
 *
 * <p>Requests whose leading prompt blocks are equal hash to the same point of a ring of virtual
 * nodes; walking the ring from there, the first worker whose outstanding tokens (with this request)
 * stay within {@code loadBound} times the mean wins, so shared prefixes find their KV blocks warm
 * on one worker while no worker takes more than its bounded share. Prompts shorter than one block
 * have no affinity. Plain Java, no state besides configuration.
 */
public final class Router {
  private static final int VIRTUAL_NODES = 64;

  private final int blockChars;
  private final int affinityBlocks;
  private final double loadBound;

  /**
   * @param blockChars characters per prompt block for affinity hashing
   * @param affinityBlocks how many leading blocks form the affinity key
   * @param loadBound the bound c &ge; 1: a worker takes affine work while its load &le; c &middot;
   *     mean
   */
  public Router(int blockChars, int affinityBlocks, double loadBound) {
    if (blockChars < 1 || affinityBlocks < 1 || !(loadBound >= 1)) {
      throw new IllegalArgumentException("blockChars, affinityBlocks >= 1 and loadBound >= 1");
    }
    this.blockChars = blockChars;
    this.affinityBlocks = affinityBlocks;
    this.loadBound = loadBound;
  }

  /**
   * The affinity key of a prompt: a hash of its leading whole blocks (at most {@code
   * affinityBlocks}), or 0 when it is shorter than one block.
   */
  public long affinityKey(String promptText) {
    int blocks = Math.min(affinityBlocks, promptText.length() / blockChars);
    if (blocks == 0) {
      return 0;
    }
    long h = fnv(promptText.substring(0, blocks * blockChars).getBytes(StandardCharsets.UTF_8));
    return h == 0 ? 1 : h;
  }

  /**
   * The worker for a request of {@code tokens} tokens, or {@code null} when {@code candidates}
   * (minus {@code exclude}) is empty.
   */
  public WorkerView choose(
      List<WorkerView> candidates, long affinityKey, long tokens, Collection<String> exclude) {
    List<WorkerView> ws = candidates.stream().filter(w -> !exclude.contains(w.workerId())).toList();
    if (ws.isEmpty()) {
      return null;
    }
    if (affinityKey != 0 && ws.size() > 1) {
      WorkerView affine = bounded(ws, affinityKey, tokens);
      if (affine != null) {
        return affine;
      }
    }
    return leastOutstanding(ws);
  }

  /** The worker with the least outstanding tokens (ties: fewer requests, then id). */
  public static WorkerView leastOutstanding(List<WorkerView> ws) {
    WorkerView best = null;
    for (WorkerView w : ws) {
      if (best == null
          || w.outstandingTokens() < best.outstandingTokens()
          || (w.outstandingTokens() == best.outstandingTokens()
              && (w.requests() < best.requests()
                  || (w.requests() == best.requests()
                      && w.workerId().compareTo(best.workerId()) < 0)))) {
        best = w;
      }
    }
    return best;
  }

  private WorkerView bounded(List<WorkerView> ws, long key, long tokens) {
    long total = tokens;
    for (WorkerView w : ws) {
      total += w.outstandingTokens();
    }
    double bound = Math.ceil(loadBound * total / ws.size());
    // The ring: VIRTUAL_NODES points per worker, sorted by hash.
    long[] points = new long[ws.size() * VIRTUAL_NODES];
    int[] owner = new int[points.length];
    Integer[] order = new Integer[points.length];
    for (int i = 0; i < ws.size(); i++) {
      byte[] id = ws.get(i).workerId().getBytes(StandardCharsets.UTF_8);
      for (int v = 0; v < VIRTUAL_NODES; v++) {
        int k = i * VIRTUAL_NODES + v;
        points[k] = mix(fnv(id) + v * 0x9E3779B97F4A7C15L);
        owner[k] = i;
        order[k] = k;
      }
    }
    Arrays.sort(order, (a, b) -> Long.compareUnsigned(points[a], points[b]));
    long target = mix(key);
    int start = 0;
    while (start < order.length && Long.compareUnsigned(points[order[start]], target) < 0) {
      start++;
    }
    boolean[] tried = new boolean[ws.size()];
    for (int step = 0; step < order.length; step++) {
      int i = owner[order[(start + step) % order.length]];
      if (tried[i]) {
        continue;
      }
      tried[i] = true;
      WorkerView w = ws.get(i);
      if (w.outstandingTokens() + tokens <= bound) {
        return w;
      }
    }
    return null;
  }

  private static long fnv(byte[] bytes) {
    long h = 0xcbf29ce484222325L;
    for (byte b : bytes) {
      h ^= b & 0xff;
      h *= 0x100000001b3L;
    }
    return h;
  }

  private static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    return z ^ (z >>> 31);
  }
}
