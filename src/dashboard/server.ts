/**
 * The queue dashboard: one express server with bull-board mounted at `/queues` for raw queue work (one BullMQ adapter
 * per provider queue; retries of paid jobs off; read-only mode available) and image-batch's own batch pages on top:
 * progress, rate, ETA, spend against the cap by tier, failures by reason, search, a thumbnail gallery, downloads.
 * It reads only Redis and the batches' output directories, so it runs anywhere beside workers and producers.
 * Security: basic auth from DASHBOARD_USER / DASHBOARD_PASSWORD (required on a non-loopback address); write routes
 * behind a CSRF token and a same-origin check; files and thumbnails served only from inside a batch's own output;
 * base64 data in job data never shown; API tokens for machines (./api-auth.ts). Routes: ./page-routes.ts,
 * ./file-routes.ts, ./write-routes.ts, and the HTTP API (./api-routes.ts, docs/api.md).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import basicAuth from 'express-basic-auth';
import { BatchStore } from '../batch/batch-store.js';
import { ProviderHealth } from '../batch/provider-health.js';
import { openCollectQueues, openProviderQueues } from '../batch/queues.js';
import { hostsOfAll } from '../providers/configuration.js';
import { PROVIDER_NAMES } from '../shared/config.js';
import { UsageError } from '../shared/errors.js';
import { queueTitle } from '../shared/keys.js';
import { displayJobData, type DashboardContext, type DashboardOptions } from './dashboard-context.js';
import { apiTokenGate, unlessTokenClient } from './api-auth.js';
import { addApiRoutes } from './api-routes.js';
import { addFileRoutes } from './file-routes.js';
import { addPageRoutes } from './page-routes.js';
import { addWriteRoutes } from './write-routes.js';

export { displayJobData, overviewOf, type DashboardOptions } from './dashboard-context.js';

/** A running dashboard. */
export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Start the dashboard. @throws UsageError when asked to listen beyond loopback without auth. */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { config, redis, log } = options;
  if (!LOOPBACK.has(options.host) && options.auth === undefined) {
    throw new UsageError(
      `refusing to serve the dashboard on ${options.host} without authentication: set DASHBOARD_USER and DASHBOARD_PASSWORD`,
    );
  }
  const queues = new Map(
    openProviderQueues(redis, config.queuePrefix, hostsOfAll(config, PROVIDER_NAMES)).map(
      ({ name, queue }) => [name, queue],
    ),
  );
  const collectQueues = new Map(
    openCollectQueues(redis, config.queuePrefix, hostsOfAll(config, PROVIDER_NAMES)).map(
      ({ name, queue }) => [name, queue],
    ),
  );
  const context: DashboardContext = {
    options,
    store: new BatchStore(redis, config.queuePrefix),
    queues,
    collectQueues,
    health: new ProviderHealth(redis, config.queuePrefix, {
      threshold: config.breakerThreshold,
      openMs: config.breakerOpenMs,
    }),
    // CSRF: every write form carries a token only this server process can make; write routes also refuse other origins.
    csrfToken: createHmac('sha256', randomBytes(32)).update('image-batch dashboard').digest('hex'),
    log,
  };
  const app = express();
  app.disable('x-powered-by');
  app.use(hostGuard(options));
  // A machine's bearer token (IMAGE_BATCH_API_TOKENS) is checked first; a valid one skips basic auth (./api-auth.ts).
  app.use(apiTokenGate(config.apiTokens));
  if (options.auth !== undefined) {
    const users = { [options.auth.user]: options.auth.password };
    app.use(unlessTokenClient(basicAuth({ users, challenge: true, realm: 'image-batch' })));
  }
  app.use('/queues', bullBoardWriteGuard(options.readOnly));
  app.use('/queues', bullBoardRouter([...queues.values(), ...collectQueues.values()], options.readOnly));
  app.use(express.urlencoded({ extended: false, limit: '16kb' }));
  addPageRoutes(app, context);
  // After the pages' own /api/batches and /api/batches/rows (the batches page's live list).
  addApiRoutes(app, context);
  addWriteRoutes(app, context);
  addFileRoutes(app, context);
  app.use(
    (error: Error & { status?: unknown }, _request: Request, response: Response, _next: NextFunction) => {
      // A request the router could not read (a bad %-escape in the path: "Failed to decode param") is the client's.
      const clientError = typeof error.status === 'number' && error.status >= 400 && error.status < 500;
      if (clientError) log.debug({ err: error }, 'dashboard request refused');
      else log.error({ err: error }, 'dashboard request failed');
      if (response.headersSent) return;
      if (clientError)
        response
          .status(error.status as number)
          .type('text')
          .send('bad request\n');
      else response.status(500).type('text').send('internal error');
    },
  );
  const server = await new Promise<Server>((resolve, reject) => {
    // `[::1]` is how a URL writes an IPv6 address; listen takes it bare.
    const listening = app.listen(options.port, options.host.replace(/^\[(.*)\]$/, '$1'), (error?: Error) =>
      error ? reject(error) : resolve(listening),
    );
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...queues.values(), ...collectQueues.values()].map((queue) => queue.close()));
    },
  };
}

/**
 * Answer only requests addressed to this dashboard by name: the loopback names, the address it listens on, and
 * `IMAGE_BATCH_DASHBOARD_HOSTS`. A page served from another name that resolves to this machine (DNS rebinding) gets
 * 421, so it can neither read the CSRF token nor pass the same-origin check, which trusts the Host header.
 */
function hostGuard(options: DashboardOptions): RequestHandler {
  const allowed = new Set([...LOOPBACK, ...options.config.dashboardHosts]);
  if (!['0.0.0.0', '::', '[::]'].includes(options.host)) allowed.add(options.host.toLowerCase());
  return (request, response, next) => {
    const host = (request.get('host') ?? '').toLowerCase().replace(/:\d+$/, '');
    if (allowed.has(host)) return next();
    response
      .status(421)
      .type('text')
      .send('this dashboard does not answer to that host name; add it to IMAGE_BATCH_DASHBOARD_HOSTS\n');
  };
}

/**
 * bull-board's own API writes under the rule of ours: refused in read-only mode, refused unless the browser says it
 * comes from this very origin (a cross-site `text/plain` POST created jobs), and retries refused outright — a retry
 * of a paid job is made from the batch page, which prices it and asks first.
 */
function bullBoardWriteGuard(readOnly: boolean): RequestHandler {
  return (request, response, next) => {
    if (request.method === 'GET' || request.method === 'HEAD') return next();
    const origin = request.get('origin');
    const site = request.get('sec-fetch-site');
    const sameOrigin =
      origin === undefined
        ? site === undefined || site === 'same-origin'
        : origin === `${request.protocol}://${request.get('host')}`;
    if (readOnly || !sameOrigin)
      return void response.status(403).type('text').send('refused: read-only, or not from this dashboard\n');
    if (/\/retry(\/|$)/.test(request.path))
      return void response
        .status(403)
        .type('text')
        .send(
          'retries of paid jobs are off here: retry failed rows from the batch page, which prices them first\n',
        );
    next();
  };
}

/** bull-board for the provider queues (retries of paid jobs off; base64 job data never shown). */
function bullBoardRouter(queues: readonly Queue[], readOnly: boolean): express.Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/queues');
  createBullBoard({
    queues: queues.map((queue) => {
      const adapter = new BullMQAdapter(queue, {
        readOnlyMode: readOnly,
        allowRetries: false,
        displayName: queueTitle(queue.name),
      });
      adapter.setFormatter('data', displayJobData);
      return adapter;
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'image-batch queues' } },
  });
  return serverAdapter.getRouter() as express.Router;
}
