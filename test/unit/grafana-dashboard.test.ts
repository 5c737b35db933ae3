/**
 * The Grafana dashboard (deploy/grafana/image-batch.json) against the metrics the code exports: every metric a query
 * names exists (a histogram's `_bucket`, `_sum`, `_count`), every label a query groups or filters by is one of that
 * metric's labels; its data source is the one provisioned; the compose stack's `monitoring` profile loads it and
 * Prometheus scrapes the port the workers serve metrics on.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/shared/metrics.js';

interface Panel {
  id: number;
  title: string;
  datasource: { uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: Array<{ expr: string }>;
}

const dashboard = JSON.parse(await readFile('deploy/grafana/image-batch.json', 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ definition: string }> };
};

/** Exported metric names (with a histogram's series names) -> their labels. */
async function exportedMetrics(): Promise<Map<string, Set<string>>> {
  const metrics = new Metrics(new Map(), new Map(), () =>
    Promise.resolve({ workers: 1, wantedWorkers: 1, moreWorkers: 0 }),
  );
  const exported = new Map<string, Set<string>>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    const labels = new Set(
      (metrics.registry.getSingleMetric(metric.name) as unknown as { labelNames: string[] }).labelNames,
    );
    if (String(metric.type) === 'histogram') {
      exported.set(`${metric.name}_bucket`, new Set([...labels, 'le']));
      exported.set(`${metric.name}_sum`, labels);
      exported.set(`${metric.name}_count`, labels);
    } else exported.set(metric.name, labels);
  }
  return exported;
}

/** Every `image_batch_*` series a PromQL expression reads, with the labels it filters and groups it by. */
export function seriesOf(expr: string): Array<{ metric: string; labels: string[] }> {
  const grouping = [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((match) =>
    match[1]!.split(',').map((label) => label.trim()),
  );
  return [...expr.matchAll(/\b(image_batch_[a-z_]+)(\{([^}]*)\})?/g)].map((match) => ({
    metric: match[1]!,
    labels: [
      ...(match[3] ?? '')
        .split(',')
        .map((matcher) => /^\s*([a-z_]+)\s*(=~|!~|!=|=)/.exec(matcher)?.[1])
        .filter((label): label is string => label !== undefined),
      ...grouping,
    ],
  }));
}

describe('Grafana dashboard', () => {
  it('queries only metrics and labels the code exports', async () => {
    const exported = await exportedMetrics();
    const expressions = [
      ...dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr)),
      ...dashboard.templating.list.map((variable) => variable.definition),
    ];
    expect(expressions.length).toBeGreaterThanOrEqual(10);
    const used = new Set<string>();
    for (const expr of expressions) {
      const series = seriesOf(expr);
      expect(series.length, expr).toBeGreaterThan(0);
      for (const { metric, labels } of series) {
        used.add(metric.replace(/_(bucket|sum|count)$/, ''));
        expect(exported.has(metric), `${metric} in ${expr}`).toBe(true);
        for (const label of labels)
          expect(exported.get(metric)!.has(label), `${label} of ${metric}`).toBe(true);
      }
    }
    // What the issue asks the board to show: throughput, spend, latency, 429s, retries, paused hosts.
    for (const metric of [
      'image_batch_rows_total',
      'image_batch_spent_usd_total',
      'image_batch_provider_request_seconds',
      'image_batch_rate_limited_total',
      'image_batch_retries_total',
      'image_batch_host_set_aside',
    ])
      expect(used.has(metric), metric).toBe(true);
  });

  it('reads the provisioned Prometheus, with unique panel ids and no overlapping panels', async () => {
    const provisioned = parse(
      await readFile('deploy/grafana/provisioning/datasources/prometheus.yml', 'utf8'),
    ) as { datasources: Array<{ uid: string; url: string }> };
    const uid = provisioned.datasources[0]!.uid;
    for (const panel of dashboard.panels) expect(panel.datasource.uid, panel.title).toBe(uid);
    expect(new Set(dashboard.panels.map((panel) => panel.id)).size).toBe(dashboard.panels.length);
    const cells = new Set<string>();
    for (const { gridPos, title } of dashboard.panels)
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x += 1)
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y += 1) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          expect(x < 24, `${title} is wider than the grid`).toBe(true);
          cells.add(`${x},${y}`);
        }
  });

  it('is loaded by the compose monitoring profile, whose Prometheus scrapes the workers’ metrics port', async () => {
    const compose = parse(await readFile('docker-compose.yml', 'utf8'), { merge: true }) as {
      services: Record<string, { profiles?: string[]; volumes?: string[]; command: string[] }>;
    };
    const { prometheus, grafana, worker } = compose.services;
    expect(prometheus?.profiles).toEqual(['monitoring']);
    expect(grafana?.profiles).toEqual(['monitoring']);
    for (const volume of [...prometheus!.volumes!, ...grafana!.volumes!]) {
      const source = volume.split(':')[0]!;
      if (source.startsWith('./')) expect(existsSync(source), source).toBe(true);
    }
    expect(grafana!.volumes!.some((volume) => volume.startsWith('./deploy/grafana/image-batch.json:'))).toBe(
      true,
    );
    const scrape = parse(await readFile('deploy/prometheus/prometheus.yml', 'utf8')) as {
      scrape_configs: Array<{ dns_sd_configs: Array<{ names: string[]; port: number }> }>;
    };
    const target = scrape.scrape_configs[0]!.dns_sd_configs[0]!;
    expect(target.names).toEqual(['worker']);
    const port = worker!.command[worker!.command.indexOf('--metrics-port') + 1];
    expect(String(target.port)).toBe(port);
  });
});
