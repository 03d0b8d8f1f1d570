package dev.sluice.engine.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of compute threads, started once for a backend's life, that run one parallel job at
 * a time split into {@code parts} parts. Parts are claimed, not assigned: the calling (device
 * owner) thread and the workers take the next unclaimed part until none is left, so a worker that
 * is slow to wake (an oversubscribed machine) costs nothing: the others do its share. Dispatch
 * allocates nothing: the job is a long-lived object whose fields describe the work.
 *
 * <p>Workers spin briefly after a job (the next one usually follows within microseconds during a
 * forward pass), then park until the next dispatch. A part that throws in a worker is rethrown by
 * {@link #run} in the caller after every claimed part has finished, so a failure never leaves a
 * worker half-way through the next job.
 */
final class WorkerPool implements AutoCloseable {
  /** One parallel job; {@code part} runs in [0, parts). */
  interface Job {
    void run(int part, int parts);
  }

  private static final int SPINS = 4_000;

  private final int parts;
  private final Thread[] workers;
  // High 32 bits: generation of the current job; low 32 bits: next unclaimed part.
  private final AtomicLong state = new AtomicLong();
  private final AtomicInteger done = new AtomicInteger();
  private volatile Job job;
  private volatile boolean closed;
  private volatile Throwable failure;

  WorkerPool(int threads, String name) {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, got " + threads);
    }
    this.parts = threads;
    this.workers = new Thread[threads - 1];
    for (int i = 0; i < workers.length; i++) {
      workers[i] = Thread.ofPlatform().daemon().name(name + "-" + (i + 1)).unstarted(this::loop);
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
    long gen = (state.get() >>> 32) + 1;
    job = j;
    done.set(0);
    state.set(gen << 32); // publishes job and done (single writer: the owner thread)
    for (Thread w : workers) {
      LockSupport.unpark(w);
    }
    work(gen, j);
    int spins = 0;
    while (done.get() < parts) {
      if (++spins < SPINS) {
        Thread.onSpinWait();
      } else {
        Thread.yield();
      }
    }
    Throwable t = failure;
    if (t != null) {
      failure = null;
      if (t instanceof RuntimeException re) {
        throw re;
      }
      if (t instanceof Error e) {
        throw e;
      }
      throw new IllegalStateException(t);
    }
  }

  /** Claims and runs parts of generation {@code gen} until none is left. */
  private void work(long gen, Job j) {
    while (true) {
      long s = state.get();
      int part = (int) s;
      if ((s >>> 32) != gen || part >= parts) {
        return;
      }
      if (!state.compareAndSet(s, s + 1)) {
        continue;
      }
      try {
        j.run(part, parts);
      } catch (Throwable t) {
        // Recorded before the part counts as done, so the caller always sees it.
        if (failure == null) {
          failure = t;
        }
      } finally {
        done.incrementAndGet();
      }
    }
  }

  private void loop() {
    long seen = 0;
    while (true) {
      int spins = 0;
      while ((state.get() >>> 32) == seen && !closed) {
        if (++spins < SPINS) {
          Thread.onSpinWait();
        } else {
          LockSupport.park(this);
        }
      }
      if (closed) {
        return;
      }
      long gen = state.get() >>> 32;
      seen = gen;
      // job is written before state: a job read now belongs to gen or a later generation, and a
      // later one makes every claim of gen fail (state has moved on), so no part runs twice.
      work(gen, job);
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
