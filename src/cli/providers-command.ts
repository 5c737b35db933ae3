/**
 * `image-batch providers [--check] [--json]`: each provider, its environment variables, whether a key is set, and what
 * its models accept (from the capability tables, the one source of those facts); with `--check`, one free call per
 * provider with a key to show that the key works and what the host serves now.
 */
import type { ModelCapabilities } from '../providers/capabilities.js';
import type { ProviderCheck } from '../providers/check.js';
import { closeHttpAgents } from '../providers/http.js';
import { apiKeyVariable, baseUrlVariable, createProvider } from '../providers/configuration.js';
import { providerFacts } from '../providers/registry.js';
import { PROVIDER_NAMES } from '../shared/config.js';
import type { CommandContext } from './context.js';

/** One line of what a model accepts. */
export function describeCapabilities(capabilities: ModelCapabilities): string {
  const sizes = capabilities.sizes;
  const sizeText =
    sizes.kind === 'pixels'
      ? `any size in multiples of ${sizes.multipleOf}, ${sizes.minPixels.toLocaleString('en')}-${sizes.maxPixels.toLocaleString('en')} px, up to ${sizes.maxAspectRatio}:1`
      : sizes.kind === 'listed'
        ? sizes.sizes.join(' ')
        : `nearest of ${sizes.ratios.join(' ')} x ${sizes.tiers.join('/')}`;
  const parts = [
    capabilities.operations.join(', ') + (capabilities.mask ? ' (mask)' : ''),
    sizeText,
    `quality ${capabilities.qualities.join('/')}`,
    `1-${capabilities.maxImages} images`,
  ];
  if (capabilities.operations.includes('edit')) parts.push(`up to ${capabilities.maxInputImages} inputs`);
  if (capabilities.backgrounds.length > 0) parts.push(`background ${capabilities.backgrounds.join('/')}`);
  if (capabilities.moderation.length > 0) parts.push(`moderation (${capabilities.moderation.join(', ')})`);
  if (capabilities.outputCompression) parts.push('output_compression (jpeg, webp)');
  return parts.join('; ');
}

/** `image-batch providers`. @returns 0, or 1 when `--check` found a provider whose call failed. */
export async function providersCommand(
  context: CommandContext,
  options: { json: boolean; check: boolean },
): Promise<number> {
  const rows = [];
  try {
    for (const name of PROVIDER_NAMES) {
      const settings = context.config.providers[name];
      const adapter = createProvider(name, context.config);
      const table = adapter.modelTable();
      let check: ProviderCheck | undefined;
      if (options.check && settings.apiKey !== undefined) {
        check = await adapter.check({
          signal: AbortSignal.timeout(Math.min(settings.timeoutMs, 30_000)),
          log: context.log,
        });
      }
      rows.push({
        name,
        title: table.label,
        key_variable: apiKeyVariable(name),
        key_set: settings.apiKey !== undefined,
        base_url_variable: baseUrlVariable(name),
        base_url: settings.baseUrl,
        flow: providerFacts(name).flow,
        models: table.models.map((model) => ({ model: model.model, supports: describeCapabilities(model) })),
        concurrency: settings.concurrency,
        requests_per_minute: settings.requestsPerMinute,
        ...(options.check ? { check: check ?? null } : {}),
      });
    }
  } finally {
    await closeHttpAgents();
  }
  const failed = rows.some((row) => row.check !== undefined && row.check !== null && !row.check.ok);
  if (options.json) {
    context.output.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return failed ? 1 : 0;
  }
  const lines: string[] = [];
  for (const row of rows) {
    lines.push(
      `${row.name} — ${row.title}`,
      `  key:      ${row.key_variable} ${row.key_set ? '(set)' : '(not set: run uses the simulator)'}`,
      `  base URL: ${row.base_url_variable}=${row.base_url}`,
      `  flow:     ${row.flow}`,
      ...row.models.map((model) => `  model:    ${model.model}: ${model.supports}`),
      `  limits:   ${row.concurrency} at once per worker, ${row.requests_per_minute} requests/min across workers`,
    );
    if (options.check) {
      const check = row.check ?? undefined;
      lines.push(
        `  check:    ${check === undefined ? 'skipped (no key)' : `${check.ok ? 'ok' : 'FAILED'}: ${check.summary}`}`,
      );
    }
    lines.push('');
  }
  context.output.stdout.write(`${lines.join('\n')}\n`);
  return failed ? 1 : 0;
}
