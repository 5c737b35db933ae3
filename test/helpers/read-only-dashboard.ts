/** A read-only dashboard on a loopback port for a test, over the test's Redis and the CLI environment it runs with. */
import pino from 'pino';
import { startDashboard } from '../../src/dashboard/server.js';
import { loadConfig } from '../../src/providers/configuration.js';
import { openTestRedis } from './redis.js';

/** A running dashboard: its URL, and `close()` (the dashboard, then its Redis connection). */
export interface TestDashboard {
  url: string;
  close(): Promise<void>;
}

/** Start a read-only dashboard configured from `environment` (its key prefix, output roots). */
export async function startReadOnlyDashboard(environment: Record<string, string>): Promise<TestDashboard> {
  const redis = openTestRedis({ maxRetriesPerRequest: null });
  const board = await startDashboard({
    config: loadConfig(environment),
    redis,
    log: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
    readOnly: true,
  });
  return {
    url: board.url,
    close: async () => {
      await board.close();
      redis.disconnect();
    },
  };
}
