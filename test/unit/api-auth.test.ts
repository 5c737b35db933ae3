/**
 * API tokens (src/dashboard/api-auth.ts): a token matches only itself, and every configured token is compared in
 * constant time whatever the token sent — the first one matching or none — so the time taken shows neither.
 */
import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';

vi.mock('node:crypto', async (original) => {
  const actual = await original<typeof crypto>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const { tokenMatches } = await import('../../src/dashboard/api-auth.js');
const compared = vi.mocked(crypto.timingSafeEqual);
const TOKENS = ['alpha-token-1f2e3d4c5b6a7980', 'beta-token-0a9b8c7d6e5f4a3b', 'gamma-short-99'];

describe('API tokens', () => {
  it('match only a configured token, whole', () => {
    for (const token of TOKENS) expect(tokenMatches(token, TOKENS)).toBe(true);
    for (const sent of ['', 'alpha-token-1f2e3d4c5b6a798', `${TOKENS[0]}0`, TOKENS[0]!.toUpperCase(), 'x'])
      expect(tokenMatches(sent, TOKENS), sent).toBe(false);
    expect(tokenMatches(TOKENS[0]!, [])).toBe(false);
  });

  it('are all compared, in constant time on equal-length digests, wherever a match is', () => {
    for (const sent of [TOKENS[0]!, TOKENS[2]!, 'no-such-token', 'a'.repeat(500)]) {
      compared.mockClear();
      tokenMatches(sent, TOKENS);
      expect(compared, sent).toHaveBeenCalledTimes(TOKENS.length);
      for (const [left, right] of compared.mock.calls) {
        expect((left as Buffer).length).toBe(32);
        expect((right as Buffer).length).toBe(32);
      }
    }
  });
});
