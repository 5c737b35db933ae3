/**
 * Capacity of each host in what it counts (issue 25): images a minute (a row of `num_images: 4` is 4) and tokens a
 * minute, shared by every worker on every machine through Redis (./lua/take-capacity.lua); requests a minute stay
 * BullMQ's limiter on the host's queue at the configured rate, and a lower rate the host announces is a bucket here. Limits are configured (`<HOST>_IMAGES_PER_MINUTE`,
 * `<HOST>_TOKENS_PER_MINUTE`), and learned where a host announces its own in rate-limit headers (OpenAI:
 * `x-ratelimit-limit-requests` and `-tokens`, providers.md §1; no host is known to announce images): the lower of the
 * two holds.
 */
import type { RedisConnection } from '../shared/redis.js';
import { estimatedPromptTokens, inputImageTokens, outputImageTokens } from '../providers/gpt-image-tokens.js';
import type { AnnouncedLimits } from '../providers/provider.js';
import type { HostName } from '../shared/hosts.js';
import type { ImageRequest } from '../shared/job-definitions.js';
import { providerKey } from '../shared/keys.js';
import { LuaCommands } from '../shared/lua-commands.js';
import { parseResolution } from '../shared/resolution.js';

const SCRIPTS = new LuaCommands(new URL('./lua/', import.meta.url), {
  take: { file: 'take-capacity.lua', numberOfKeys: 3 },
});

/**
 * A host's configured limits a minute; 0: none. Requests are paced by the queue's limiter at the configured rate; the
 * requests bucket here holds only a lower rate the host announced.
 */
export interface CapacityLimits {
  requestsPerMinute: number;
  imagesPerMinute: number;
  tokensPerMinute: number;
}

/**
 * The tokens a row uses, as OpenAI counts them: its output images' tokens (GPT Image 2's size × quality formula; the
 * most, `high`, when it names no quality), its prompt's and each input image's (src/providers/gpt-image-tokens.ts).
 */
export function rowTokens(request: ImageRequest): number {
  const size = parseResolution(request.resolution);
  const output = size === undefined ? undefined : outputImageTokens(size, request.quality ?? 'high');
  const inputs = (request.inputImageSizes ?? request.inputImages.map(() => '')).reduce(
    (sum, text) => sum + inputImageTokens(parseResolution(text)),
    0,
  );
  return (output ?? 0) * request.numImages + estimatedPromptTokens(request.prompt.length) + inputs;
}

/** Every host's images and tokens buckets, and the limits hosts announced, under one prefix. */
export class HostCapacity {
  private readonly known = new Map<HostName, string>();

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /**
   * Take `request`'s images and tokens from `provider`'s buckets under `limits` (the configured ones; an announced
   * lower limit wins). @returns 0 when taken, else the ms until they would be there (nothing is taken then).
   */
  async take(provider: HostName, request: ImageRequest, limits: CapacityLimits): Promise<number> {
    const announced = await this.announced(provider);
    const requests = effectiveRequestsPerMinute(limits.requestsPerMinute, announced.requestsPerMinute);
    // The queue's limiter paces the configured rate: a bucket only for a lower one the host announced.
    const requestBucket =
      requests < limits.requestsPerMinute || limits.requestsPerMinute === 0 ? requests : 0;
    const images = lowerOf(limits.imagesPerMinute, announced.imagesPerMinute);
    const tokens = lowerOf(limits.tokensPerMinute, announced.tokensPerMinute);
    if (requestBucket === 0 && images === 0 && tokens === 0) return 0;
    return Number(
      await SCRIPTS.run(
        this.redis,
        'take',
        providerKey(this.prefix, provider, 'requests-bucket'),
        providerKey(this.prefix, provider, 'images-bucket'),
        providerKey(this.prefix, provider, 'tokens-bucket'),
        '1',
        String(requestBucket),
        String(request.numImages),
        String(images),
        String(tokens === 0 ? 0 : rowTokens(request)),
        String(tokens),
      ),
    );
  }

  /** Record the limits `provider` announced (once per change in this process). */
  async learn(provider: HostName, limits: AnnouncedLimits): Promise<void> {
    const fields = Object.entries(limits).filter(([, value]) => typeof value === 'number' && value > 0);
    const text = JSON.stringify(Object.fromEntries(fields));
    if (fields.length === 0 || this.known.get(provider) === text) return;
    this.known.set(provider, text);
    await this.redis.hset(
      providerKey(this.prefix, provider, 'announced-limits'),
      Object.fromEntries(fields.map(([name, value]) => [name, String(value)])),
    );
  }

  /** The limits `provider` announced, per minute (absent where it announced none). */
  async announced(provider: HostName): Promise<AnnouncedLimits> {
    const stored = await this.redis.hgetall(providerKey(this.prefix, provider, 'announced-limits'));
    return Object.fromEntries(Object.entries(stored).map(([name, value]) => [name, Number(value)]));
  }
}

/**
 * The requests a minute that hold for a host: the lower of its configured rate (0: none) and the one it announced
 * (undefined: none); 0 when neither.
 */
export function effectiveRequestsPerMinute(configured: number, announced: number | undefined): number {
  return lowerOf(configured, announced);
}

/** The lower of a configured limit (0: none) and an announced one (undefined: none); 0 when neither. */
function lowerOf(configured: number, announced: number | undefined): number {
  if (announced === undefined || announced <= 0) return configured;
  return configured > 0 ? Math.min(configured, announced) : announced;
}
