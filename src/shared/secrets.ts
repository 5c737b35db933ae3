/**
 * Keeping secrets out of every text that leaves the process or enters Redis: a provider's error body may echo the API
 * key it was sent (OpenAI's "Incorrect API key provided: sk-…"), and such text flows into results lines, reports,
 * logs, BullMQ's `failedReason` and pause reasons. Every configured secret is registered once (`loadConfig`), and
 * {@link scrubSecrets} replaces it — and anything shaped like a provider key or an Authorization value — with
 * `[redacted]`. Error messages are scrubbed where they are made (src/shared/errors.ts), results lines where they are
 * built, log lines as they are written.
 */

/** Shapes of keys worth hiding even when not configured here (another account's key echoed back). */
const KEY_SHAPES: readonly RegExp[] = [
  // OpenAI (`sk-…`, `sk-proj-…`).
  /\bsk-[A-Za-z0-9_-]{16,}/g,
  // Replicate (`r8_…`).
  /\br8_[A-Za-z0-9]{16,}/g,
  // fal (`<key id uuid>:<secret hex>`).
  /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9a-f]{16,}/gi,
  // Authorization values echoed whole.
  /\b(Bearer|Key|Basic)\s+[A-Za-z0-9._~+/:=-]{12,}/g,
];

/** Shortest value registered: shorter ones would redact ordinary words. */
const MIN_SECRET_LENGTH = 8;

const secrets = new Set<string>();

/** Register a configured secret (an API key, a password); blank or short values are ignored. */
export function registerSecret(value: string | undefined): void {
  if (value !== undefined && value.length >= MIN_SECRET_LENGTH) secrets.add(value);
}

/** `text` with every registered secret and every key-shaped string replaced by `[redacted]`. */
export function scrubSecrets(text: string): string {
  let scrubbed = text;
  for (const secret of secrets)
    if (scrubbed.includes(secret)) scrubbed = scrubbed.split(secret).join('[redacted]');
  for (const shape of KEY_SHAPES)
    scrubbed = scrubbed.replace(shape, (match, scheme?: string) =>
      typeof scheme === 'string' && match.startsWith(scheme) ? `${scheme} [redacted]` : '[redacted]',
    );
  return scrubbed;
}
