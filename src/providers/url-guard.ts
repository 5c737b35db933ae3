/**
 * Fetching user-supplied URLs safely (SSRF): only http(s); the address is checked after DNS resolution, the
 * connection goes to the checked address, and every redirect is checked again; private, loopback, link-local,
 * carrier-grade NAT, metadata and other non-unicast addresses are refused (IPv4-mapped and 6to4 IPv6 by the IPv4
 * inside them). Hosts named in an allow-list (the simulator, a private host a user needs) pass. Bodies are capped.
 * Sources: OWASP SSRF Prevention Cheat Sheet; reliability.md §3 (undici `connect.lookup` skips literal IPs, so
 * literals are checked separately).
 */
import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, request, type Dispatcher } from 'undici';

/** Why an address may not be fetched, or undefined when it is a public unicast address. */
export function forbiddenAddressReason(address: string): string | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, ''));
  } catch {
    return `"${address}" is not an IP address`;
  }
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return forbiddenAddressReason(v6.toIPv4Address().toString());
    const range = v6.range();
    if (range === '6to4') {
      const bytes = v6.toByteArray();
      return forbiddenAddressReason(bytes.slice(2, 6).join('.')) ?? undefined;
    }
    if (range === 'teredo') return 'a Teredo tunnel address';
    return range === 'unicast' ? undefined : `a ${range} address`;
  }
  const range = parsed.range();
  return range === 'unicast' ? undefined : `a ${range} address`;
}

/** Options of {@link fetchUserUrl}. */
export interface FetchUserUrlOptions {
  /** Largest body accepted, bytes. */
  maxBytes: number;
  /** Deadline of each hop (connect, headers, body), ms. */
  timeoutMs: number;
  /** Host names or IPs allowed even when private or loopback (lower case). */
  allowedHosts: readonly string[];
  signal?: AbortSignal;
  /** Redirects followed at most. Default 3. */
  maxRedirects?: number;
}

/** A refused or failed fetch of a user-supplied URL; the message says why. */
export class UserUrlError extends Error {
  override readonly name = 'UserUrlError';
}

function guardedLookup(allowedHosts: readonly string[]): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses as Array<{ address: string; family: number }>;
      const allowed = allowedHosts.includes(hostname.toLowerCase());
      for (const entry of list) {
        const reason = allowed ? undefined : forbiddenAddressReason(entry.address);
        if (reason !== undefined)
          return callback(new UserUrlError(`${hostname} resolves to ${reason}`), '', 0);
      }
      const first = list[0];
      if (first === undefined) return callback(new UserUrlError(`${hostname} does not resolve`), '', 0);
      if ((options as { all?: boolean }).all === true)
        return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
      callback(null, first.address, first.family);
    });
  };
}

/**
 * GET a user-supplied http(s) URL into memory, following at most `maxRedirects` redirects, each checked.
 * @throws UserUrlError naming the reason (scheme, refused address, redirect, status, size).
 */
export async function fetchUserUrl(url: string, options: FetchUserUrlOptions): Promise<Buffer> {
  const opened = await openUserUrl(url, options);
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of opened.body) chunks.push(chunk);
    return Buffer.concat(chunks);
  } finally {
    await opened.close();
  }
}

/**
 * Open a user-supplied http(s) URL for reading as a stream — every hop checked as by {@link fetchUserUrl} — for bodies
 * too large for memory (a manifest). The stream fails with a UserUrlError past `maxBytes`. Call `close()` when done.
 * @throws UserUrlError naming the reason (scheme, refused address, redirect, status, declared size).
 */
export async function openUserUrl(
  url: string,
  options: FetchUserUrlOptions,
): Promise<{ body: AsyncIterable<Buffer>; close(): Promise<void> }> {
  const agent = new Agent({
    connect: { lookup: guardedLookup(options.allowedHosts), timeout: options.timeoutMs },
  });
  try {
    const response = await checkedResponse(new URL(url), agent, options);
    async function* capped(): AsyncGenerator<Buffer> {
      let total = 0;
      for await (const chunk of response.body) {
        total += (chunk as Buffer).length;
        if (total > options.maxBytes) {
          response.body.destroy();
          throw new UserUrlError(`larger than ${options.maxBytes} bytes`);
        }
        yield chunk as Buffer;
      }
    }
    return { body: capped(), close: () => agent.close() };
  } catch (error) {
    await agent.close();
    throw error;
  }
}

/** The 200 answer of `url`, redirects followed and every hop checked. @throws UserUrlError otherwise. */
async function checkedResponse(
  url: URL,
  agent: Agent,
  options: FetchUserUrlOptions,
): Promise<Dispatcher.ResponseData> {
  let current = url;
  for (let hop = 0; ; hop += 1) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw new UserUrlError(`${current.protocol} URLs are not fetched`);
    }
    const host = current.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (isIP(host) !== 0 && !options.allowedHosts.includes(host)) {
      const reason = forbiddenAddressReason(host);
      if (reason !== undefined) throw new UserUrlError(`${current.hostname} is ${reason}`);
    }
    const response = await request(current, {
      method: 'GET',
      dispatcher: agent,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: options.signal ?? null,
    }).catch((error: unknown) => {
      const cause = (error as { cause?: unknown }).cause;
      if (error instanceof UserUrlError) throw error;
      if (cause instanceof UserUrlError) throw cause;
      throw new UserUrlError(`cannot fetch ${current.origin}: ${(error as Error).message}`);
    });
    if (response.statusCode >= 300 && response.statusCode < 400 && response.headers.location !== undefined) {
      await response.body.dump();
      if (hop >= (options.maxRedirects ?? 3)) throw new UserUrlError('too many redirects');
      current = new URL(String(response.headers.location), current);
      continue;
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new UserUrlError(`HTTP ${response.statusCode} from ${current.origin}`);
    }
    const declared = Number(response.headers['content-length'] ?? Number.NaN);
    if (declared > options.maxBytes) {
      await response.body.dump();
      throw new UserUrlError(`larger than ${options.maxBytes} bytes`);
    }
    return response;
  }
}
