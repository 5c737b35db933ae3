/**
 * `npm run test:faults`, input: the SSRF corpus — every address image-batch must not fetch for a user (loopback in its
 * many spellings, link-local and cloud metadata, carrier-grade NAT, 6to4 of a private address, private ranges, file
 * URLs) is refused before any connection, also after a redirect; public unicast addresses are allowed.
 */
import { describe, expect, it } from 'vitest';
import { forbiddenAddressReason, fetchUserUrl, UserUrlError } from '../../src/providers/url-guard.js';

describe('SSRF', () => {
  it.each([
    'http://127.0.0.1/',
    'http://localhost/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://2130706433/',
    'http://0251.0376.0251.0376/',
    'http://127.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.64.0.1/',
    'http://[2002:a9fe:a9fe::]/',
    'http://10.0.0.1/',
    'file:///etc/passwd',
  ])('SSRF: %s is refused before any connection', async (url) => {
    await expect(
      fetchUserUrl(url, { maxBytes: 1000, timeoutMs: 1000, allowedHosts: [] }),
    ).rejects.toBeInstanceOf(UserUrlError);
  });

  it('SSRF: a redirect from an allowed host to loopback is refused', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_request, response) => {
      response.writeHead(302, { location: 'http://[::1]:9/secret' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as import('node:net').AddressInfo;
    try {
      await expect(
        fetchUserUrl(`http://127.0.0.1:${port}/image.png`, {
          maxBytes: 1000,
          timeoutMs: 1000,
          allowedHosts: ['127.0.0.1'],
        }),
      ).rejects.toThrow(/\[::1\] is a loopback address/);
    } finally {
      server.close();
    }
  });

  it('public unicast addresses are allowed', () => {
    expect(forbiddenAddressReason('8.8.8.8')).toBeUndefined();
    expect(forbiddenAddressReason('2606:4700:4700::1111')).toBeUndefined();
  });
});
