/**
 * What the simulated provider APIs share: fault injection per provider, submission counting, real output images
 * served at URLs, and async tasks that move queued → in progress → completed/failed.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProviderName } from '../shared/config.js';
import type { OutputFormat } from '../shared/job-definitions.js';
import type { FaultRule } from './faults.js';
import { AccountKeys } from './account-keys.js';
import { DeliveredImages } from './deliveries.js';
import { signedAsTold, type C2paImageSigner } from './c2pa-signer.js';
import { HostConditionBook, takeToken } from './host-conditions.js';
import { shortenDataUris, type RecordedRequest } from './http-helpers.js';
import { makeEditedImage, pngHeaderClaiming, sharedGeneratedImage } from './image-maker.js';
import type { ImageWork, SimulatedImage, SimulatedTask, TaskState } from './tasks.js';

export type { ImageWork, SimulatedImage, SimulatedTask, TaskState } from './tasks.js';

const CONTENT_TYPES: Record<OutputFormat, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};
const EXTENSIONS: Record<OutputFormat, string> = { png: 'png', jpeg: 'jpg', webp: 'webp' };

export { perSimulator } from './per-simulator.js';

/** Prompts containing this marker are refused on content-policy grounds, in each provider's own way. */
export const REFUSAL_MARKER = /\[simulate:refuse\]/i;

/** The shared state of one simulator server. */
export class SimulatorCore {
  /** Paid submissions by provider. */
  readonly submissionsByProvider = new Map<ProviderName, number>();
  /** Paid submissions by prompt: a test gives each row its own prompt and checks each was paid once. */
  readonly submissionsByPrompt = new Map<string, number>();
  /** The last 5000 paid submissions (data URIs shortened), for tests that check the wire format. */
  readonly recordedRequests: RecordedRequest[] = [];
  latencyMs: number;
  /** Signs every image made with a C2PA manifest, as OpenAI signs GPT Image outputs; undefined: images are unsigned. */
  c2paSigner: C2paImageSigner | undefined;
  /** Every image delivered, by the prompt it was made for: what the host handed over, byte for byte. */
  readonly delivered: DeliveredImages;
  /** Submissions answered 429 by the simulated rate limit, by provider. */
  readonly throttledByProvider = new Map<ProviderName, number>();
  /**
   * Submissions that arrived while a Retry-After the simulator had sent was still running (more than 100 ms after
   * it was sent, so requests already in flight do not count), by provider.
   */
  readonly earlySubmissionsByProvider = new Map<ProviderName, number>();
  /** Rate limit each provider enforces, requests per minute (token bucket, one second of burst); undefined: none. */
  rateLimitPerMinute: number | undefined;
  /** Status calls (polls) by provider, those answered 429, and the status-call limit per minute (undefined: none). */
  readonly statusCalls = new Map<ProviderName, number>();
  readonly throttledStatusCalls = new Map<ProviderName, number>();
  statusRateLimitPerMinute: number | undefined;
  /** Most async tasks of a provider submitted and not yet finished at one time (requests in flight). */
  readonly peakInFlightByProvider = new Map<ProviderName, number>();
  /** Finish times of each provider's unfinished tasks, in submission order (the latency is the same for all). */
  private readonly finishTimes = new Map<ProviderName, number[]>();
  private readonly statusBuckets = new Map<ProviderName, { tokens: number; at: number }>();
  private readonly buckets = new Map<ProviderName, { tokens: number; at: number }>();
  private readonly retryAfter = new Map<ProviderName, { sentAt: number; until: number }>();
  /** How long an async task stays queued before it runs, ms. */
  queueDelayMs = 20;
  /** Tests set it: a cancel arriving for a queued task finds it just started (a cancel racing the start). */
  cancelRacesStart = false;
  /** Tasks removed from the queue by a cancel before they started (never run, never billed), by provider. */
  readonly cancelledBeforeStartByProvider = new Map<ProviderName, number>();
  /** Requests a host never started (cancelled while queued, or aborted at their start deadline), by prompt: unbilled. */
  readonly unbilledByPrompt = new Map<string, number>();
  /** Each host's own rate limit, latency, start delay, outage window and credit limit (./host-conditions.ts). */
  readonly hosts = new HostConditionBook();
  /** Keys accepted besides the simulator's own, and keys revoked (./account-keys.ts). */
  readonly keys = new AccountKeys();
  origin = '';
  private readonly faults: Array<FaultRule & { times: number }> = [];
  private readonly files = new Map<string, { bytes: Buffer; contentType: string; truncateOnce?: boolean }>();
  private nextOutputFault: FaultRule['output'];
  private readonly tasks = new Map<string, SimulatedTask>();

  constructor(
    latencyMs: number,
    private readonly maxStoredFiles: number,
  ) {
    this.latencyMs = latencyMs;
    this.delivered = new DeliveredImages(maxStoredFiles);
  }

  injectFaults(rules: FaultRule[]): void {
    for (const rule of rules) this.faults.push({ ...rule, times: rule.times ?? 1 });
  }

  /** Drop every injected fault not yet used up. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Record a paid submission; returns the record to complete with the answer's status. */
  recordSubmission(
    provider: ProviderName,
    request: IncomingMessage,
    body: unknown,
    prompt: string,
  ): RecordedRequest {
    const now = Date.now();
    const waiting = this.retryAfter.get(provider);
    if (waiting !== undefined && now > waiting.sentAt + 100 && now < waiting.until) {
      this.earlySubmissionsByProvider.set(provider, (this.earlySubmissionsByProvider.get(provider) ?? 0) + 1);
    }
    this.submissionsByProvider.set(provider, (this.submissionsByProvider.get(provider) ?? 0) + 1);
    this.submissionsByPrompt.set(prompt, (this.submissionsByPrompt.get(prompt) ?? 0) + 1);
    const record: RecordedRequest = {
      provider,
      prompt,
      at: now,
      method: request.method ?? '',
      path: request.url ?? '',
      headers: { ...request.headers },
      body: shortenDataUris(body),
      status: 0,
    };
    this.recordedRequests.push(record);
    if (this.recordedRequests.length > 5000) this.recordedRequests.shift();
    return record;
  }

  /**
   * The next fault for a submission of `provider`/`operation`, consumed; a 429 from the simulated rate limit when
   * the provider's bucket is empty. Every 429 with a Retry-After is remembered, to count early submissions.
   */
  takeFault(provider: ProviderName, operation: 'generate' | 'edit'): FaultRule | undefined {
    let fault =
      this.hosts.faultNow(provider) ?? this.rateLimited(provider) ?? this.injectedFault(provider, operation);
    if (fault?.output !== undefined) {
      this.nextOutputFault = fault.output;
      fault = undefined;
    }
    if (fault?.status === 429 && fault.retryAfterSeconds !== undefined) {
      const now = Date.now();
      let until = now + fault.retryAfterSeconds * 1000;
      // An HTTP date has whole seconds: the wait it asks for ends at the second it names.
      if (fault.retryAfterForm === 'http-date') until = Math.floor(until / 1000) * 1000;
      this.retryAfter.set(provider, { sentAt: now, until });
      return { ...fault, retryAfterUntil: until };
    }
    return fault;
  }

  /** Count a status call of `provider`; true when the status-call limit refuses it (then answer 429). */
  statusCallThrottled(provider: ProviderName): boolean {
    this.statusCalls.set(provider, (this.statusCalls.get(provider) ?? 0) + 1);
    const perMinute = this.statusRateLimitPerMinute;
    if (perMinute === undefined || takeToken(this.statusBuckets, provider, perMinute) === 0) return false;
    this.throttledStatusCalls.set(provider, (this.throttledStatusCalls.get(provider) ?? 0) + 1);
    return true;
  }

  private rateLimitOf(provider: ProviderName): number | undefined {
    return this.hosts.of(provider).rateLimitPerMinute ?? this.rateLimitPerMinute;
  }

  private rateLimited(provider: ProviderName): FaultRule | undefined {
    const perMinute = this.rateLimitOf(provider);
    if (perMinute === undefined) return undefined;
    const waitMs = takeToken(this.buckets, provider, perMinute);
    if (waitMs === 0) return undefined;
    this.throttledByProvider.set(provider, (this.throttledByProvider.get(provider) ?? 0) + 1);
    return { provider, status: 429, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  /**
   * OpenAI-style `x-ratelimit-*-requests` headers for the provider's simulated limit (none without a limit):
   * requests left in the bucket and the time until the next one.
   */
  rateLimitHeaders(provider: ProviderName): Record<string, string> {
    const perMinute = this.rateLimitOf(provider);
    const bucket = this.buckets.get(provider);
    if (perMinute === undefined || bucket === undefined) return {};
    // As of now (the answer may leave well after the request took its token).
    const capacity = Math.max(1, perMinute / 60);
    const tokens = Math.min(capacity, bucket.tokens + ((Date.now() - bucket.at) * perMinute) / 60_000);
    const resetMs = Math.max(0, Math.ceil(((1 - (tokens % 1)) * 60_000) / perMinute));
    return {
      'x-ratelimit-limit-requests': String(perMinute),
      'x-ratelimit-remaining-requests': String(Math.floor(tokens)),
      'x-ratelimit-reset-requests': `${resetMs}ms`,
    };
  }

  private injectedFault(provider: ProviderName, operation: 'generate' | 'edit'): FaultRule | undefined {
    const index = this.faults.findIndex(
      (rule) =>
        (rule.provider === undefined || rule.provider === provider) &&
        ((rule.operation ?? 'any') === 'any' || rule.operation === operation),
    );
    if (index < 0) return undefined;
    const rule = this.faults[index]!;
    if ((rule.after ?? 0) > 0) {
      rule.after! -= 1;
      return undefined;
    }
    rule.times -= 1;
    if (rule.times <= 0) this.faults.splice(index, 1);
    return rule;
  }

  /** Wait the latency of `provider` (its own, else the simulator's). */
  async delay(provider?: ProviderName): Promise<void> {
    const latencyMs =
      (provider === undefined ? undefined : this.hosts.of(provider).latencyMs) ?? this.latencyMs;
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
  }

  /** Make the images of `work` and store them for download. */
  async makeImages(work: ImageWork): Promise<SimulatedImage[]> {
    const images: SimulatedImage[] = [];
    const outputFault = this.nextOutputFault;
    this.nextOutputFault = undefined;
    for (let index = 0; index < work.count; index += 1) {
      const prompt = work.count > 1 ? `${work.prompt} (#${index + 1})` : work.prompt;
      let bytes =
        outputFault === 'bomb'
          ? pngHeaderClaiming(30_000, 30_000)
          : work.operation === 'edit'
            ? await makeEditedImage(prompt, work.inputs, work.mask, work.size, work.format)
            : await sharedGeneratedImage(prompt, work.size, work.format);
      if (outputFault !== 'bomb') bytes = await signedAsTold(this.c2paSigner, bytes, work.format, prompt);
      this.delivered.record(work.prompt, bytes);
      const url = this.storeFile(bytes, CONTENT_TYPES[work.format], EXTENSIONS[work.format]);
      if (outputFault === 'truncated') this.files.get(url.split('/').pop()!)!.truncateOnce = true;
      images.push({
        url,
        width: work.size.width,
        height: work.size.height,
        contentType: CONTENT_TYPES[work.format],
        bytes,
      });
    }
    return images;
  }

  /** Store bytes for download at `/files/<name>`; returns the URL. */
  storeFile(bytes: Buffer, contentType: string, extension: string): string {
    const name = `${randomUUID()}.${extension}`;
    this.files.set(name, { bytes, contentType });
    while (this.files.size > this.maxStoredFiles) this.files.delete(this.files.keys().next().value!);
    return `${this.origin}/files/${name}`;
  }

  /** Store bytes under a chosen name (fal storage uploads). */
  putFile(name: string, bytes: Buffer, contentType: string): void {
    this.files.set(name, { bytes, contentType });
  }

  /** A stored file; `truncated` is true (once) when its download must stop halfway. */
  file(name: string): { bytes: Buffer; contentType: string; truncated: boolean } | undefined {
    const file = this.files.get(name);
    if (file === undefined) return undefined;
    const truncated = file.truncateOnce === true;
    file.truncateOnce = false;
    return { bytes: file.bytes, contentType: file.contentType, truncated };
  }

  /**
   * Create an async task that makes `work` (or fails with `failure`), queued for {@link queueDelayMs} then running for
   * the latency.
   */
  createTask(
    provider: ProviderName,
    model: string,
    input: unknown,
    work: ImageWork | undefined,
    failure?: SimulatedTask['failure'],
  ): SimulatedTask {
    const now = Date.now();
    const host = this.hosts.of(provider);
    const startsAt = now + (host.startDelayMs ?? this.queueDelayMs);
    const task: SimulatedTask = {
      id: randomUUID(),
      provider,
      prompt: work?.prompt ?? promptOf(input),
      createdAt: now,
      startsAt,
      finishesAt: startsAt + (host.latencyMs ?? this.latencyMs),
      model,
      input,
      ready: Promise.resolve(),
    };
    this.countInFlight(provider, now, task.finishesAt);
    if (failure !== undefined) task.failure = failure;
    else if (work !== undefined) {
      task.ready = this.makeImages(work).then(
        (images) => {
          task.images = images;
        },
        (error: unknown) => {
          task.failure = { kind: 'failed', message: `could not make the image: ${String(error)}` };
        },
      );
    }
    this.tasks.set(task.id, task);
    return task;
  }

  private countInFlight(provider: ProviderName, now: number, finishesAt: number): void {
    const times = this.finishTimes.get(provider) ?? [];
    let done = 0;
    while (done < times.length && times[done]! <= now) done += 1;
    times.splice(0, done);
    times.push(finishesAt);
    this.finishTimes.set(provider, times);
    this.peakInFlightByProvider.set(
      provider,
      Math.max(this.peakInFlightByProvider.get(provider) ?? 0, times.length),
    );
  }

  task(id: string): SimulatedTask | undefined {
    return this.tasks.get(id);
  }

  /**
   * Cancel `task`: a queued one is removed and never runs (`cancelled`: nothing made, nothing billed); a started one
   * goes on to its end (`started`: the model app decides how to stop — the simulator's picture is that it finishes and
   * is billed); a finished one is `finished`.
   */
  cancel(task: SimulatedTask): 'cancelled' | 'started' | 'finished' {
    if (this.cancelRacesStart && this.stateOf(task) === 'queued') {
      const shift = task.startsAt - Date.now();
      task.startsAt -= shift;
      task.finishesAt -= shift;
    }
    const state = this.stateOf(task);
    if (state === 'queued') {
      task.cancelledAt = Date.now();
      this.cancelledBeforeStartByProvider.set(
        task.provider,
        (this.cancelledBeforeStartByProvider.get(task.provider) ?? 0) + 1,
      );
      this.unbilledByPrompt.set(task.prompt, (this.unbilledByPrompt.get(task.prompt) ?? 0) + 1);
      return 'cancelled';
    }
    return state === 'running' ? 'started' : 'finished';
  }

  /** A task's state now: queued, running, or finished once its time is up and its images are made. */
  stateOf(task: SimulatedTask): TaskState {
    if (task.cancelledAt !== undefined) return 'cancelled';
    const now = Date.now();
    if (task.abortedAt !== undefined) return 'aborted';
    const deadline = task.startDeadlineAt;
    if (deadline !== undefined && now >= deadline && task.startsAt > deadline) {
      // Not started by its start deadline: the host aborts it, unbilled (fal X-Fal-Request-Timeout, Replicate
      // Cancel-After before the start).
      task.abortedAt = deadline;
      this.unbilledByPrompt.set(task.prompt, (this.unbilledByPrompt.get(task.prompt) ?? 0) + 1);
      return 'aborted';
    }
    if (now < task.startsAt) return 'queued';
    if (now < task.finishesAt) return 'running';
    if (task.failure !== undefined) return 'failed';
    return task.images === undefined ? 'running' : 'succeeded';
  }
}

/** The prompt of a task's input (`prompt`, or Replicate's `input.prompt`), '' without one. */
function promptOf(input: unknown): string {
  const prompt = (input as { prompt?: unknown } | undefined)?.prompt;
  return typeof prompt === 'string' ? prompt : '';
}

/** What a provider's routes get for one HTTP request. */
export interface RouteContext {
  core: SimulatorCore;
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  /** When set, the only API key accepted; otherwise any non-empty key is. */
  apiKey: string | undefined;
}

/** Handles the request when it is one of this provider's routes; returns false otherwise. */
export type ProviderRoutes = (context: RouteContext) => Promise<boolean>;

/** Whether the request carries `Authorization: <scheme> <key>` with an accepted key. */
export function authorized(context: RouteContext, scheme: 'Bearer' | 'Key'): boolean {
  const header = context.request.headers.authorization ?? '';
  if (!header.startsWith(`${scheme} `)) return false;
  return context.core.keys.accepts(header.slice(scheme.length + 1).trim(), context.apiKey);
}

export type { RecordedRequest } from './http-helpers.js';
