package dev.sluice.node.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class RateMeterTest {
  private static final long MS = 1_000_000L;

  @Test
  void reportsTokensPerBusySecond() {
    RateMeter m = new RateMeter(50 * MS);
    assertThat(m.update(0, 0)).isZero();
    // 100 tokens in 200 ms of busy time: 500 tokens/s, whatever the wall-clock time between.
    assertThat(m.update(100, 200 * MS)).isCloseTo(500, within(1e-9));
  }

  @Test
  void idleTimeDoesNotLowerTheRate() {
    RateMeter m = new RateMeter(50 * MS);
    m.update(100, 200 * MS);
    // Many report intervals with the device idle: the counters do not move.
    for (int i = 0; i < 100; i++) {
      assertThat(m.update(100, 200 * MS)).isCloseTo(500, within(1e-9));
    }
  }

  @Test
  void shortBurstsAccumulateUntilTheSampleIsLongEnough() {
    RateMeter m = new RateMeter(50 * MS);
    m.update(100, 200 * MS); // 500/s
    // 10 ms of busy time at 100/s: too short to count alone, kept for the next sample.
    assertThat(m.update(101, 210 * MS)).isCloseTo(500, within(1e-9));
    // 50 ms more at 100/s: one sample of 6 tokens over 60 ms (100/s), averaged with 500/s.
    assertThat(m.update(106, 260 * MS)).isCloseTo(300, within(1e-9));
  }

  @Test
  void restartsWhenTheCountersGoBack() {
    RateMeter m = new RateMeter(50 * MS);
    m.update(1000, 1000 * MS); // 1000/s
    assertThat(m.update(10, 10 * MS)).isCloseTo(1000, within(1e-9));
    assertThat(m.update(110, 110 * MS)).isCloseTo(1000, within(1e-9));
  }
}
