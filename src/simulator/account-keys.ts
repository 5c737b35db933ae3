/**
 * The API keys the simulated hosts accept (issue 25: several accounts per host): the simulator's own key (or any
 * non-empty key without one), further accounts' keys, and revoked keys, answered as a wrong key is (401) — so one
 * account of a host can fail while another goes on.
 */
export class AccountKeys {
  private readonly revoked = new Set<string>();
  private readonly extra = new Set<string>();

  /** Whether `key` is accepted, given the simulator's own key (`undefined`: any non-empty key is). */
  accepts(key: string, ownKey: string | undefined): boolean {
    if (key === '' || this.revoked.has(key)) return false;
    return ownKey === undefined || key === ownKey || this.extra.has(key);
  }

  /** Answer `key` 401 from now on. */
  revoke(key: string): void {
    this.revoked.add(key);
  }

  /** Accept `key` too (another account's); it is no longer revoked. */
  accept(key: string): void {
    this.extra.add(key);
    this.revoked.delete(key);
  }
}
