/**
 * Webhooks, as the worker room sees them: a provider that can announce finished requests (fal `fal_webhook`, Replicate
 * `webhook` + `webhook_events_filter`, WaveSpeedAI `webhook`) gets the URL in its call context when a receiver is
 * running, and its folder's verifier reads a delivery — signature (where the provider signs), request id, and whether
 * the request has finished. A delivery only makes the parked request due for a status poll at once: the images and the
 * outcome come from the provider's own status answer — or, where the provider signs its deliveries (fal, Replicate),
 * from the verified delivery itself, which then saves the status calls; an unsigned delivery only ever costs one
 * early poll.
 */
import type { ProviderName } from '../shared/config.js';
import { authorizedCallOptions, getOnce } from './http.js';
import type { ProviderImage } from './provider.js';

/** What a delivery said, once read. */
export type WebhookVerdict =
  /**
   * Authentic; `finished` when the request reached a final state (a `start` or progress event is not); `images` when
   * a signed delivery carries a successful result (then it needs no status call; an unsigned one never does).
   */
  | { kind: 'accepted'; requestId: string; finished: boolean; images?: ProviderImage[] }
  /** Refused: 401 for a bad or missing signature, 400 for a body that is not the provider's delivery. */
  | { kind: 'rejected'; status: 400 | 401; reason: string };

/** Reads one provider's deliveries. */
export interface WebhookVerifier {
  readonly provider: ProviderName;
  /**
   * Verify and read a delivery: `headers` lower-cased as received, `body` byte for byte. Never throws; a signing key it
   * cannot fetch rejects the delivery (the provider retries it).
   */
  verify(headers: Readonly<Record<string, string | undefined>>, body: Buffer): Promise<WebhookVerdict>;
}

/** The body as JSON, or a 400 verdict. */
export function parseDelivery(body: Buffer): { json: unknown } | WebhookVerdict {
  try {
    return { json: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { kind: 'rejected', status: 400, reason: 'the body is not JSON' };
  }
}

/** Where a provider serves its webhook signing secret, and how to read it from the answer. */
export interface SigningSecretSource {
  provider: ProviderName;
  settings: { apiKey: string | undefined; baseUrl: string; timeoutMs: number };
  /** The variable of the API key (named when it is missing). */
  keyVariable: string;
  /** Path under the base URL, e.g. `/webhooks/default/secret`. */
  path: string;
  /** The secret in the answer's body, or undefined when it holds none. */
  read(body: unknown): string | undefined;
}

/**
 * The account's webhook signing secret, fetched once with its API key (a free GET) and kept in memory only; a fetch
 * that fails is forgotten, so the next delivery (the provider retries) asks again.
 * @returns `verifyWith`: run `verify` with the secret, or reject the delivery with 401 when there is none.
 */
export function signingSecret(source: SigningSecretSource): {
  verifyWith(verify: (secret: string) => WebhookVerdict): Promise<WebhookVerdict>;
} {
  let secret: Promise<string> | undefined;
  const fetchSecret = async (): Promise<string> => {
    const { settings } = source;
    const options = authorizedCallOptions(
      source.provider,
      { apiKey: settings.apiKey, keyVariable: source.keyVariable },
      { signal: AbortSignal.timeout(settings.timeoutMs) },
      settings.timeoutMs,
    );
    const answer = await getOnce(`${settings.baseUrl}${source.path}`, options);
    const found = source.read(answer.body);
    if (answer.status !== 200 || found === undefined)
      throw new Error(`${source.provider} answered ${answer.status} for the webhook signing secret`);
    return found;
  };
  return {
    async verifyWith(verify) {
      let key: string;
      try {
        secret ??= fetchSecret();
        key = await secret;
      } catch (error) {
        secret = undefined;
        return { kind: 'rejected', status: 401, reason: `no signing secret: ${(error as Error).message}` };
      }
      return verify(key);
    },
  };
}
