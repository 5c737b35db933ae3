/**
 * The charts of the dashboard: on a batch's page, five charts drawn in the browser with uPlot (a small time-series
 * chart library, served by the dashboard itself from node_modules — no CDN, so the dashboard works offline) from
 * `/api/batches/:id/timeline` (src/batch/timeline.ts); on the batches page, a sparkline of each batch's last hour drawn
 * on the server as SVG. Labels reach the page as data and uPlot writes them as text (`textContent`), never as HTML.
 */
import { createRequire } from 'node:module';
import type { Express } from 'express';
import { escapeHtml } from './html.js';

const require = createRequire(import.meta.url);

/** The library's files, by the path the dashboard serves them at. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/assets/uplot.js': { file: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript' },
  '/assets/uplot.css': { file: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css' },
};

/** Serve the chart library's files (cached for a day: they change only with the installed version). */
export function addChartAssets(app: Express): void {
  for (const [route, asset] of Object.entries(ASSETS))
    app.get(route, (_request, response) => {
      response.type(asset.type).setHeader('Cache-Control', 'public, max-age=86400');
      response.sendFile(asset.file);
    });
}

/** Style of the charts. */
export const CHART_STYLE = `
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px;margin-bottom:16px}
.chart{background:#fff;box-shadow:0 1px 2px #0001;border-radius:6px;padding:8px;min-height:260px;overflow:hidden}
.chart .u-legend{font-size:12px}.chart .u-legend th{font-weight:500}
.chart h3{font-size:13px;margin:0 0 4px}.chart .empty{color:#667085;padding:40px 0;text-align:center}
.spark{vertical-align:middle}
`;

/** The charts section of batch `batchId`'s page, with the script that draws and refreshes them (every 15 s). */
export function chartsSection(batchId: string, live: boolean): string {
  const url = `/api/batches/${encodeURIComponent(batchId)}/timeline`;
  const charts = [
    ['rows', 'Rows finished per minute'],
    ['spend', 'Spend over time (USD) against the budget cap'],
    ['latency', 'Request latency per host, p50 and p95 (s)'],
    ['failures', 'Failures per minute by reason'],
    ['depth', 'Rows pending, queue depth and parked requests'],
  ]
    .map(([key, title]) => `<div class="chart" id="chart-${key}"><h3>${escapeHtml(title)}</h3></div>`)
    .join('');
  return `<link rel="stylesheet" href="/assets/uplot.css"><h2>Charts</h2>
<div class="charts" id="charts" data-timeline="${escapeHtml(url)}" data-live="${live ? '1' : '0'}">${charts}</div>
<script src="/assets/uplot.js"></script><script>${CHART_SCRIPT}</script>`;
}

/** Draws the charts (browser side; uPlot's documented options: github.com/leeoniya/uPlot/tree/master/docs). */
const CHART_SCRIPT = `
(() => {
  const section = document.getElementById('charts');
  const palette = ['#2457c5', '#e07b00', '#7a3fc2', '#00897b', '#c2185b', '#5d4037', '#455a64'];
  const drawn = [];
  const seconds = (values) => values.map((ms) => (ms === null ? null : ms / 1000));
  // A chart of counts with nothing but zeros (no row finished yet) says so; a level that is 0 (pending) is data.
  function chart(key, timeline, series, values, yLabel, zeroIsData) {
    const box = document.getElementById('chart-' + key);
    box.querySelectorAll('.uplot, .empty').forEach((old) => old.remove());
    if (!values.some((line) => line.some((value) => value !== null && (zeroIsData || value !== 0)))) {
      const empty = document.createElement('div');
      empty.className = 'empty';
      empty.textContent = 'No data yet';
      box.appendChild(empty);
      return;
    }
    const options = {
      width: Math.max(300, box.clientWidth - 16),
      height: 200,
      scales: { x: { time: true } },
      series: [{}, ...series.map((line, index) => ({ spanGaps: true, stroke: palette[index % palette.length], width: 1.5, ...line }))],
      axes: [{}, { label: yLabel, size: 60 }],
    };
    drawn.push(new uPlot(options, [timeline.minutes, ...values], box));
  }
  function draw(timeline) {
    while (drawn.length > 0) drawn.pop().destroy();
    window.imageBatchTimeline = timeline;
    chart('rows', timeline, [
      { label: 'completed', stroke: '#2e9d5b', fill: '#2e9d5b22' },
      { label: 'failed', stroke: '#d92d20', fill: '#d92d2022' },
    ], [timeline.completed, timeline.failed], 'rows / min');
    const spend = [{ label: 'spent', stroke: '#2457c5', fill: '#2457c522' }];
    const spendValues = [timeline.spentUsd];
    if (timeline.budgetUsd !== null) {
      spend.push({ label: 'budget cap', stroke: '#d92d20', dash: [6, 4] });
      spendValues.push(timeline.minutes.map(() => timeline.budgetUsd));
    }
    chart('spend', timeline, spend, spendValues, 'USD', true);
    const latency = [];
    const latencyValues = [];
    for (const [host, figures] of Object.entries(timeline.latency)) {
      latency.push({ label: host + ' p50' }, { label: host + ' p95', dash: [6, 4] });
      latencyValues.push(seconds(figures.p50), seconds(figures.p95));
    }
    chart('latency', timeline, latency, latencyValues, 's');
    const reasons = Object.entries(timeline.failuresByReason);
    chart('failures', timeline, reasons.map(([reason]) => ({ label: reason })), reasons.map(([, counts]) => counts), 'rows / min');
    const depth = [{ label: 'rows pending', stroke: '#1d2330' }];
    const depthValues = [timeline.pending];
    for (const [host, samples] of Object.entries(timeline.hosts)) {
      if (!samples.waiting.some((value) => value !== null)) continue;
      depth.push({ label: host + ' waiting' }, { label: host + ' parked', dash: [6, 4] });
      depthValues.push(samples.waiting, samples.parked);
    }
    chart('depth', timeline, depth, depthValues, 'count', true);
  }
  async function refresh() {
    if (typeof uPlot !== 'function') {
      section.textContent = 'The chart library did not load.';
      return;
    }
    const response = await fetch(section.dataset.timeline, { credentials: 'same-origin' });
    if (response.ok) draw(await response.json());
  }
  let resizing;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => window.imageBatchTimeline && draw(window.imageBatchTimeline), 200);
  });
  void refresh();
  if (section.dataset.live === '1') setInterval(refresh, 15000);
})();
`;

/** A sparkline of `values` (rows finished per minute, oldest first) as inline SVG, 120×24; '' without activity. */
export function sparkline(values: readonly number[]): string {
  const highest = Math.max(0, ...values);
  if (values.length < 2 || highest === 0) return '<span class="spark-none">—</span>';
  const step = 120 / (values.length - 1);
  const points = values
    .map((value, index) => `${(index * step).toFixed(1)},${(23 - (value / highest) * 22).toFixed(1)}`)
    .join(' ');
  const total = values.reduce((sum, value) => sum + value, 0);
  return `<svg class="spark" width="120" height="24" viewBox="0 0 120 24" role="img" aria-label="${total} rows finished in the last hour"><polyline fill="none" stroke="#2457c5" stroke-width="1.5" points="${points}"/></svg>`;
}
