/**
 * The dashboard's write routes, each behind the write guard (read-only mode, same origin, CSRF token): pause and
 * resume a batch, change its priority, approve its canary (releasing the rows held until then), and retry its failed rows after a
 * confirmation page that shows what the retry would cost.
 */
import type { Express, Request, Response } from 'express';
import type { BatchStatus } from '../batch/batch-store.js';
import { retryFailedRows } from '../batch/retry-failed.js';
import { retryPlanOf, statusOf, wrap, writeGuard, type DashboardContext } from './dashboard-context.js';
import { retryConfirmationPage } from './pages.js';
import { parsePriority } from '../batch/priority.js';
import { changeLevel } from '../library/batch-priority.js';

/** Add the write routes to `app`. */
export function addWriteRoutes(app: Express, context: DashboardContext): void {
  const guard = writeGuard(context);
  const setPaused = (paused: boolean) =>
    wrap(async (request: Request, response: Response) => {
      const status = await statusOf(context, request, response);
      if (status === undefined) return;
      await context.store.setPaused(status.batchId, paused);
      response.redirect(303, `/batches/${encodeURIComponent(status.batchId)}`);
    });
  app.post('/batches/:id/pause', guard, setPaused(true));
  app.post('/batches/:id/resume', guard, setPaused(false));
  app.post(
    '/batches/:id/approve',
    guard,
    wrap(async (request, response) => {
      const status = await statusOf(context, request, response);
      if (status === undefined) return;
      if (status.canary === undefined)
        return void response.status(409).type('text').send('this batch has no canary');
      const { released } = await context.store.canary.approve(status.batchId);
      context.log.info({ batch: status.batchId, released }, 'canary approved from the dashboard');
      response.redirect(303, `/batches/${encodeURIComponent(status.batchId)}`);
    }),
  );
  addPriorityRoute(app, context, guard);
  const planFor = (status: BatchStatus) => retryPlanOf(context, status);
  app.get(
    '/batches/:id/retry-failed',
    wrap(async (request, response) => {
      const status = await statusOf(context, request, response);
      if (status === undefined) return;
      if (context.options.readOnly) return void response.status(403).type('text').send('read-only dashboard');
      const plan = await planFor(status);
      const page = retryConfirmationPage({
        batchId: status.batchId,
        failedRows: plan.failed.length,
        estimateUsd: plan.estimateUsd,
        blockedReason: plan.blockedReason,
        csrfToken: context.csrfToken,
      });
      response.type('html').send(page);
    }),
  );
  app.post(
    '/batches/:id/retry-failed',
    guard,
    wrap(async (request, response) => {
      const status = await statusOf(context, request, response);
      if (status === undefined) return;
      const plan = await planFor(status);
      if (plan.blockedReason !== undefined || (request.body as Record<string, unknown>).confirm !== 'yes')
        return void response
          .status(409)
          .type('text')
          .send(plan.blockedReason ?? 'not confirmed');
      const retried = await retryFailedRows(
        context.store,
        context.queues,
        context.collectQueues,
        status,
        plan,
      );
      context.log.info({ batch: status.batchId, rows: retried.size }, 'retrying failed rows');
      response.redirect(303, `/batches/${encodeURIComponent(status.batchId)}`);
    }),
  );
}

/** `POST /batches/:id/priority`: the batch page's priority form (field `priority`: a level or its name). */
function addPriorityRoute(
  app: Express,
  context: DashboardContext,
  guard: ReturnType<typeof writeGuard>,
): void {
  app.post(
    '/batches/:id/priority',
    guard,
    wrap(async (request, response) => {
      const status = await statusOf(context, request, response);
      if (status === undefined) return;
      let level: number;
      try {
        level = parsePriority(formText((request.body as Record<string, unknown>).priority));
      } catch (error) {
        return void response
          .status(400)
          .type('text')
          .send((error as Error).message);
      }
      const { config, redis } = context.options;
      const moved = await changeLevel(config, { redis, store: context.store }, status.batchId, level);
      context.log.info({ batch: status.batchId, level, moved }, 'priority changed from the dashboard');
      response.redirect(303, `/batches/${encodeURIComponent(status.batchId)}`);
    }),
  );
}

/** A form field as text ('' when absent or not text). */
function formText(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
