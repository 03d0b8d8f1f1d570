package dev.sluice.engine.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class WorkerPoolTest {

  @Test
  void everyPartRunsExactlyOncePerJob() {
    try (WorkerPool pool = new WorkerPool(3, "test")) {
      AtomicIntegerArray counts = new AtomicIntegerArray(3);
      for (int i = 0; i < 2000; i++) {
        pool.run((part, parts) -> counts.incrementAndGet(part));
      }
      for (int p = 0; p < 3; p++) {
        assertThat(counts.get(p)).isEqualTo(2000);
      }
    }
  }

  @Test
  void aFailingPartIsRethrownInTheCallerAndThePoolStaysUsable() {
    try (WorkerPool pool = new WorkerPool(2, "test")) {
      for (int i = 0; i < 50; i++) {
        assertThatThrownBy(
                () ->
                    pool.run(
                        (part, parts) -> {
                          if (part == 1) {
                            throw new IllegalStateException("part 1 failed");
                          }
                        }))
            .hasMessage("part 1 failed");
        AtomicIntegerArray ok = new AtomicIntegerArray(2);
        pool.run((part, parts) -> ok.incrementAndGet(part));
        assertThat(ok.get(0) + ok.get(1)).isEqualTo(2);
      }
    }
  }
}
