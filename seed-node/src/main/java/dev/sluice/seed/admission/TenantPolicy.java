package dev.sluice.seed.admission;

/**
 * What a tenant may use.
 *
 * @param name the tenant's name (API keys map to it)
 * @param priority its priority class
 * @param tokensPerSecond its quota in tokens (prompt + max_tokens) per second; 0 = unlimited
 * @param burstTokens the token bucket's size; at least the largest request it should be able to
 *     send
 */
public record TenantPolicy(
    String name, Priority priority, double tokensPerSecond, double burstTokens) {

  /** Whether the tenant has a quota at all. */
  public boolean limited() {
    return tokensPerSecond > 0;
  }
}
