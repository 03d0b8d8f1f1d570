package dev.sluice.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopMatcherTest {

  private static String feed(StopMatcher m, String... pieces) {
    StringBuilder sb = new StringBuilder();
    for (String p : pieces) {
      sb.append(m.push(p));
    }
    return sb.toString();
  }

  @Test
  void stopStringSplitAcrossTokens() {
    StopMatcher m = new StopMatcher(List.of("\nUser:"));
    assertThat(m.push("Hello")).isEqualTo("Hello");
    assertThat(m.push(" there\n")).isEqualTo(" there"); // "\n" may start the stop string
    assertThat(m.push("Us")).isEmpty();
    assertThat(m.stopped()).isFalse();
    assertThat(m.push("er: more")).isEmpty();
    assertThat(m.stopped()).isTrue();
    assertThat(m.matchedStop()).isEqualTo("\nUser:");
    assertThat(m.push("ignored")).isEmpty();
    assertThat(m.flush()).isEmpty();
  }

  @Test
  void heldTextIsReleasedWhenItIsNotAStop() {
    StopMatcher m = new StopMatcher(List.of("STOP"));
    assertThat(m.push("a ST")).isEqualTo("a ");
    assertThat(m.push("OR")).isEqualTo("STOR");
    assertThat(m.push("E S")).isEqualTo("E ");
    assertThat(m.flush()).isEqualTo("S");
    assertThat(m.stopped()).isFalse();
  }

  @Test
  void earliestOfSeveralStopsWins() {
    StopMatcher m = new StopMatcher(List.of("world", "lo w"));
    assertThat(feed(m, "hel", "lo wor", "ld")).isEqualTo("hel");
    assertThat(m.matchedStop()).isEqualTo("lo w");
  }

  @Test
  void stopInsideOneTokenCutsThatToken() {
    StopMatcher m = new StopMatcher(List.of("###"));
    assertThat(feed(m, "answer: 4### next")).isEqualTo("answer: 4");
    assertThat(m.stopped()).isTrue();
  }

  @Test
  void noStopsPassesEverythingThrough() {
    StopMatcher m = new StopMatcher(List.of());
    assertThat(feed(m, "a", "b")).isEqualTo("ab");
    assertThat(m.flush()).isEmpty();
  }
}
