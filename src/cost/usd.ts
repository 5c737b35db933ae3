/**
 * US dollar amounts: rounding for sums and the one way they are printed.
 */

/** Round a USD amount to a millionth of a dollar, so sums of many prices print cleanly. */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}

/** `$0.22` for whole cents, `$0.2110` (four decimals) otherwise. */
export function formatUsd(usd: number): string {
  const wholeCents = Math.abs(usd * 100 - Math.round(usd * 100)) < 1e-9;
  return `$${usd.toFixed(wholeCents ? 2 : 4)}`;
}
