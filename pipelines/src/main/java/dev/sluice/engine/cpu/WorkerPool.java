package dev.sluice.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of compute threads, started once for a backend's life, that run one parallel job at
 * a time: the calling (device owner) thread takes part 0 and worker {@code i} part {@code i}.
 * Dispatch allocates nothing: the job is a long-lived object whose fields describe the work.
 *
 * <p>Workers spin briefly after a job (the next one usually follows within microseconds during a
 * forward pass), then park until the next dispatch. A job that throws in a worker is rethrown by
 * {@link #run} in the caller after every part has finished, so a failure never leaves a worker
 * half-way through the next job.
 */
final class WorkerPool implements AutoCloseable {
  /** One parallel job; {@code part} runs in [0, parts). */
  interface Job {
    void run(int part, int parts);
  }

  private static final int SPINS = 20_000;

  private final int parts;
  private final Thread[] workers;
  private final AtomicInteger remaining = new AtomicInteger();
  private volatile Job job;
  private volatile long generation;
  private volatile boolean closed;
  private volatile Throwable failure;

  WorkerPool(int threads, String name) {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    }
    this.parts = threads;
    this.workers = new Thread[threads - 1];
    for (int i = 0; i < workers.length; i++) {
      int part = i + 1;
      workers[i] = Thread.ofPlatform().daemon().name(name + "-" + part).unstarted(() -> loop(part));
      workers[i].start();
    }
  }

  int parts() {
    return parts;
  }

  /** Runs {@code j} on all parts and returns when every part is done. */
  void run(Job j) {
    if (parts == 1) {
      j.run(0, 1);
      return;
    }
    if (closed) {
      throw new IllegalStateException("worker pool closed");
    }
    job = j;
    remaining.set(parts - 1);
    generation++; // single writer (the owner thread): publishes job and remaining
    for (Thread w : workers) {
      LockSupport.unpark(w);
    }
    Throwable local = null;
    try {
      j.run(0, parts);
    } catch (Throwable t) {
      local = t;
    }
    int spins = 0;
    while (remaining.get() != 0) {
      if (++spins < SPINS) {
        Thread.onSpinWait();
      } else {
        Thread.yield();
      }
    }
    job = null;
    Throwable remote = failure;
    failure = null;
    if (local != null || remote != null) {
      Throwable t = local != null ? local : remote;
      if (t instanceof RuntimeException re) {
        throw re;
      }
      if (t instanceof Error e) {
        throw e;
      }
      throw new IllegalStateException(t);
    }
  }

  private void loop(int part) {
    long seen = 0;
    while (true) {
      int spins = 0;
      while (generation == seen && !closed) {
        if (++spins < SPINS) {
          Thread.onSpinWait();
        } else {
          LockSupport.park(this);
        }
      }
      if (closed) {
        return;
      }
      seen = generation;
      try {
        job.run(part, parts);
      } catch (Throwable t) {
        failure = t;
      } finally {
        remaining.decrementAndGet();
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    for (Thread w : workers) {
      LockSupport.unpark(w);
    }
    for (Thread w : workers) {
      try {
        w.join(1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }
}
