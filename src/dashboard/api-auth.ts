/**
 * Who may call the HTTP API (docs/api.md). Machines send `Authorization: Bearer <token>` with one of
 * IMAGE_BATCH_API_TOKENS: checked in constant time (the sha256 of the token sent against the sha256 of every
 * configured token, all of them compared, so neither the length nor the position of a match shows in the time taken),
 * never logged; a token that matches skips the dashboard's basic auth and the CSRF check (it is not an ambient
 * credential a browser sends by itself). Without a bearer token the dashboard's own rules hold: basic auth when it is
 * configured, and for a write the page's CSRF token in the `x-csrf-token` header from this very origin.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** `response.locals` flag set for a request whose bearer token matched. */
const MACHINE = 'imageBatchApiToken';

/** Whether `request` came with a valid API token (set by {@link apiTokenGate}). */
export function isTokenClient(response: Response): boolean {
  return response.locals[MACHINE] === true;
}

/** Whether `sent` is one of `tokens`, comparing every one in constant time. */
export function tokenMatches(sent: string, tokens: readonly string[]): boolean {
  const digest = createHash('sha256').update(sent).digest();
  let matched = false;
  for (const token of tokens) {
    const equal = timingSafeEqual(digest, createHash('sha256').update(token).digest());
    matched = equal || matched;
  }
  return matched;
}

/**
 * The gate in front of everything (mounted before basic auth): a request to `/api/` with a bearer token passes as a
 * machine when the token is one of `tokens`, and is refused (401) otherwise, so a wrong token never falls through to
 * another kind of auth.
 */
export function apiTokenGate(tokens: readonly string[]): RequestHandler {
  return (request, response, next) => {
    const header = request.get('authorization') ?? '';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    // Tokens open the API only, not the pages or bull-board's own API.
    if (bearer === undefined || !request.path.startsWith('/api/')) return next();
    if (tokens.length > 0 && tokenMatches(bearer, tokens)) {
      response.locals[MACHINE] = true;
      return next();
    }
    response
      .status(401)
      .set('www-authenticate', 'Bearer realm="image-batch"')
      .json({ error: 'invalid API token: use one of IMAGE_BATCH_API_TOKENS' });
  };
}

/** Basic auth for everyone but a machine whose token matched. */
export function unlessTokenClient(basicAuth: RequestHandler): RequestHandler {
  return (request, response, next) => (isTokenClient(response) ? next() : basicAuth(request, response, next));
}

/**
 * The guard of the API's write routes: refused in read-only mode; a machine with a valid token passes; a browser
 * needs this origin and the page's CSRF token in `x-csrf-token`. Without either: 401 when API tokens are configured
 * (the token is missing), else 403.
 */
export function apiWriteGuard(options: { readOnly: boolean; csrfToken: string; tokens: readonly string[] }) {
  return (request: Request, response: Response, next: NextFunction) => {
    if (options.readOnly) return void response.status(403).json({ error: 'read-only dashboard' });
    if (isTokenClient(response)) return next();
    const origin = request.get('origin');
    const sameOrigin = origin === undefined || origin === `${request.protocol}://${request.get('host')}`;
    const sent = request.get('x-csrf-token');
    if (sameOrigin && sent !== undefined && tokenMatches(sent, [options.csrfToken])) return next();
    if (options.tokens.length > 0)
      return void response
        .status(401)
        .set('www-authenticate', 'Bearer realm="image-batch"')
        .json({ error: 'missing API token: send Authorization: Bearer <one of IMAGE_BATCH_API_TOKENS>' });
    response.status(403).json({ error: 'missing or invalid CSRF token (x-csrf-token), or another origin' });
  };
}
