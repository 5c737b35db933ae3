/**
 * What hosts' own usage has shown of how they bill (`<prefix>:provider:<name>:billing`, field `input-billing`): whether
 * the input side of a request of n images (prompt text, edit input images) is billed once per request or once per
 * image. No published source says (docs/providers.md): the first n > 1 answer a host reports usage for settles it, and
 * estimates follow from then on (src/cost/price-catalogue.ts `InputBilling`).
 */
import type { RedisConnection } from '../shared/redis.js';
import type { InputBilling } from '../cost/price-catalogue.js';
import { estimatedPromptTokens } from '../providers/gpt-image-tokens.js';
import { PROVIDER_NAMES, type ProviderName } from '../shared/config.js';
import { providerKey } from '../shared/keys.js';

/** Fewest prompt tokens a judgement is made on (below, the estimate of one copy is too rough). */
const MIN_PROMPT_TOKENS = 20;

/**
 * How the reported `usage` of a request of `numImages` images with a prompt of `promptCharacters` bills its input
 * side: the text input tokens against the estimate of one copy of the prompt (about 4 characters a token) — about n
 * times it is `per-image`, about once `once`. Undefined when it cannot tell (one image, no text token count, a prompt
 * too short to judge on).
 */
export function inputBillingShownBy(
  usage: Record<string, unknown> | undefined,
  request: { numImages: number; promptCharacters: number },
): InputBilling | undefined {
  if (usage === undefined || request.numImages < 2) return undefined;
  const text = (usage.input_tokens_details as { text_tokens?: unknown } | undefined)?.text_tokens;
  const single = estimatedPromptTokens(request.promptCharacters);
  if (typeof text !== 'number' || single < MIN_PROMPT_TOKENS) return undefined;
  return text / single >= (1 + request.numImages) / 2 ? 'per-image' : 'once';
}

/** The billing facts of every host under one prefix. */
export class BillingFacts {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /** How each host bills the input side of n images, where its usage has shown it. */
  async read(): Promise<Partial<Record<ProviderName, InputBilling>>> {
    const values = await Promise.all(
      PROVIDER_NAMES.map((name) =>
        this.redis.hget(providerKey(this.prefix, name, 'billing'), 'input-billing'),
      ),
    );
    const facts: Partial<Record<ProviderName, InputBilling>> = {};
    PROVIDER_NAMES.forEach((name, index) => {
      const value = values[index];
      if (value === 'once' || value === 'per-image') facts[name] = value;
    });
    return facts;
  }

  /** Record what `provider`'s usage showed, with the evidence (kept for people: `HGETALL` the key). */
  async record(provider: ProviderName, billing: InputBilling, evidence: string): Promise<void> {
    await this.redis.hset(providerKey(this.prefix, provider, 'billing'), {
      'input-billing': billing,
      evidence,
      'recorded-at': new Date().toISOString(),
    });
  }
}
