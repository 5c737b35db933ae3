/**
 * HTML of the dashboard's own pages: the batches page and one batch's page. Plain server-rendered HTML with a small
 * polling script; every value from a batch (row keys, prompts, provider messages) is escaped.
 */
import { levelName, LOWEST_LEVEL, type BatchPriority } from '../batch/priority.js';
import type { FinishByStatus } from '../batch/finish-by.js';
import { newBatchBody } from './new-batch-page.js';
import type { BatchHost } from '../batch/batch-hosts.js';
import { formatPercent, type ReportFigures, type TierCell } from '../batch/batch-report.js';
import type { CanaryReport } from '../batch/canary-report.js';
import type { OpenAIGroup } from '../batch/openai-batch-records.js';
import type { ResultLine } from '../shared/job-definitions.js';
import { RESOLUTION_TIERS } from '../cost/resolution-tier.js';
import { batchListSearch, type BatchListPage } from './batch-list.js';
import type { BatchOverview } from './batch-overview.js';
import { escapeHtml } from './html.js';
import { CHART_STYLE, chartsSection, sparkline } from './charts.js';

export type { BatchOverview } from './batch-overview.js';

export { escapeHtml };

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:20px;margin:0 0 16px}a{color:#2457c5}
table{border-collapse:collapse;background:#fff;width:100%;box-shadow:0 1px 2px #0001}
th,td{padding:8px 10px;border-bottom:1px solid #e4e7ec;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
.bar{background:#e4e7ec;border-radius:4px;height:10px;width:160px;overflow:hidden}
.bar{display:flex}.bar>span{display:block;height:100%;background:#2e9d5b}.bar>span.failed-part{background:#d92d20}
.pages{margin:12px 0}.pages a,.pages span{margin-right:12px}form.filter{margin-bottom:12px}
.state{padding:2px 8px;border-radius:10px;background:#e4e7ec;font-size:12px}
.state.finished{background:#d7f2e1}.state.budget_reached{background:#fde2c8}.state.awaiting_approval{background:#fff3b0}.state.late{background:#f8c8c0}
.cards{display:flex;gap:12px;margin-bottom:16px;flex-wrap:wrap}
.card{background:#fff;padding:10px 14px;box-shadow:0 1px 2px #0001;border-radius:6px}
.card b{display:block;font-size:18px}
.gallery{display:flex;flex-wrap:wrap;gap:8px}.gallery a{display:block}
.gallery img{height:128px;border-radius:4px;box-shadow:0 1px 2px #0003}
nav{margin-bottom:16px}nav a{margin-right:12px}
form.search input{padding:4px 8px;width:260px}
${CHART_STYLE}`;

function layout(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>
<body><nav><a href="/">Batches</a><a href="/batches/new">New batch</a><a href="/queues">Queues (bull-board)</a></nav>${body}</body></html>`;
}

/** The "New batch" page (./new-batch-page.ts). */
export function newBatchPage(csrfToken: string, readOnly: boolean): string {
  return layout('image-batch — new batch', newBatchBody(csrfToken, readOnly));
}

function usd(value: number): string {
  return `$${value.toFixed(Math.abs(value * 100 - Math.round(value * 100)) < 1e-9 ? 2 : 4)}`;
}

/** The ETA cell: the time left, or when a finished batch finished (UTC). */
function etaText(batch: BatchOverview): string {
  if (batch.finishedAt !== null) return `finished ${batch.finishedAt.slice(0, 16).replace('T', ' ')} UTC`;
  return duration(batch.etaSeconds);
}

function duration(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** One row of the batches table (also rendered by the polling script from /api/batches). */
export function batchRow(batch: BatchOverview): string {
  const percent = batch.rows === 0 ? 100 : Math.round((batch.done / batch.rows) * 100);
  // Failed rows in their own colour: a batch whose rows mostly failed does not show a full green bar.
  const share = (count: number) => (batch.rows === 0 ? 0 : (count / batch.rows) * 100).toFixed(1);
  const failedTitle = batch.failed === 0 ? '' : `, ${batch.failed} failed`;
  const tiers = RESOLUTION_TIERS.map(
    (tier) => `${tier} ${batch.costByTier[tier].images} · ${usd(batch.costByTier[tier].cost_usd)}`,
  ).join('<br>');
  return `<tr data-batch="${escapeHtml(batch.id)}">
<td><a href="/batches/${encodeURIComponent(batch.id)}">${escapeHtml(batch.id)}</a></td>
<td><span class="state ${escapeHtml(batch.state)}">${escapeHtml(batch.state.replace('_', ' '))}</span>${batch.late === true ? ' <span class="state late" title="will miss its finish-by time">late</span>' : ''}</td>
<td><div class="bar" title="${batch.completed} completed${failedTitle}"><span class="completed-part" style="width:${batch.rows === 0 ? 100 : share(batch.completed)}%"></span><span class="failed-part" style="width:${share(batch.failed)}%"></span></div><span class="progress">${batch.done} / ${batch.rows}</span> (${percent}%)</td>
<td>${batch.rowsPerMinute.toFixed(1)}/min</td><td class="eta">${escapeHtml(etaText(batch))}</td>
<td>${usd(batch.spentUsd)}${batch.capUsd === null ? '' : ` of ${usd(batch.capUsd)}`}<br><small>${tiers}</small></td>
<td class="failed">${batch.failed}</td><td>${batch.rejected}</td><td class="last-hour">${batch.recent === undefined ? '' : sparkline(batch.recent)}</td></tr>`;
}

/** The batches page: one page of the list (./batch-list.ts); `pausedProviders` lists provider queues paused for their account (`name: reason`). */
export function batchesPage(list: BatchListPage, pausedProviders: string[] = []): string {
  const notice = pausedProviders
    .map(
      (entry) =>
        `<p class="card" style="background:#fde2c8">Provider paused — ${escapeHtml(entry)}. Fix the account, then run <code>image-batch resume ${escapeHtml(entry.split(':')[0])}</code>.</p>`,
    )
    .join('');
  return layout(
    'image-batch — batches',
    `<h1>Batches</h1>${notice}${filterForm(list)}<table><thead><tr><th>Batch</th><th>Status</th><th>Progress</th><th>Rate</th><th>ETA</th>
<th>Spend (cap) · by tier</th><th>Failed</th><th>Rejected</th><th>Last hour</th></tr></thead><tbody id="batches">
${batchRows(list)}</tbody></table>${pageLinks(list)}
<script>
setInterval(async () => {
  const response = await fetch('/api/batches/rows' + location.search, { credentials: 'same-origin' });
  if (response.ok) document.getElementById('batches').innerHTML = await response.text();
}, 2000);
</script>`,
  );
}

/** The rows of the batches table for one page of the list (also what the live refresh fetches), or why none. */
export function batchRows(list: BatchListPage): string {
  const empty = list.total === 0 ? 'No batches yet.' : 'No batch matches the filter.';
  return list.batches.map(batchRow).join('\n') || `<tr><td colspan="9">${empty}</td></tr>`;
}

/** The filter: state (the states batches are in) and a part of the name. */
function filterForm(list: BatchListPage): string {
  const options = ['', ...list.states]
    .map(
      (state) =>
        `<option value="${escapeHtml(state)}"${state === list.query.state ? ' selected' : ''}>${state === '' ? 'any state' : escapeHtml(state.replace('_', ' '))}</option>`,
    )
    .join('');
  return `<form class="filter" method="get" action="/"><select name="state" aria-label="State">${options}</select>
<input name="name" placeholder="name contains" aria-label="Name contains" value="${escapeHtml(list.query.name)}"> <button>Filter</button></form>`;
}

/** "Page 2 of 7 (160 of 412 batches)" with links to the previous and next pages, keeping the filter. */
function pageLinks(list: BatchListPage): string {
  const link = (page: number, label: string) =>
    `<a href="/${escapeHtml(batchListSearch(list.query, page))}">${label}</a>`;
  const counted =
    list.matching === list.total ? `${list.total} batches` : `${list.matching} of ${list.total} batches`;
  return `<p class="pages">${list.page > 1 ? link(list.page - 1, '← newer') : ''}<span>Page ${list.page} of ${list.pages} (${counted})</span>${list.page < list.pages ? link(list.page + 1, 'older →') : ''}</p>`;
}

/** What the batch page shows. */
export interface BatchPageData {
  overview: BatchOverview;
  figures: ReportFigures;
  /** Failed rows grouped by error code, each with up to five examples. */
  failures: Array<{ code: string; count: number; examples: ResultLine[] }>;
  /** Why the results file could not be read, when it could not: the rows shown are those Redis still holds. */
  resultsProblem?: string;
  /** Rows matching the search, when there is one. */
  matches: ResultLine[] | undefined;
  query: string;
  /** Output images for the gallery (paths relative to the batch directory). */
  gallery: Array<{ rowKey: string; path: string }>;
  /** CSRF token for the write actions; undefined in read-only mode (no write action is shown). */
  csrfToken: string | undefined;
  paused: boolean;
  /** Its priority level and weight (src/batch/priority.ts). */
  priority: BatchPriority;
  /** Its finish-by time, when it has one: whether it is late (src/batch/finish-by.ts). */
  finishBy?: FinishByStatus;
  /** Why it is paused when the user did not pause it (its output storage is full). */
  pausedReason?: string;
  /** The batch's canary while it awaits approval. */
  canary: CanaryReport | undefined;
  /** The hosts that took part in it or are set aside now (src/batch/batch-hosts.ts). */
  hosts: BatchHost[];
  /** Its rows going through OpenAI's Batch API: waiting for a request file, and each open OpenAI batch. */
  openaiBatches: { waiting: number; groups: OpenAIGroup[] };
}

/** A POST form with the CSRF token. */
function actionForm(action: string, label: string, token: string, extra = ''): string {
  return `<form method="post" action="${escapeHtml(action)}" style="display:inline"><input type="hidden" name="_csrf" value="${escapeHtml(token)}">${extra}<button>${escapeHtml(label)}</button></form>`;
}

/** The batch's priority, with a form to change it while it runs (when writes are on). */
function priorityLine(priority: BatchPriority, csrfToken: string | undefined, id: string): string {
  const said = `Priority <b id="priority">${escapeHtml(levelName(priority.level))}</b> (${priority.level} of 1 first … 9 last), weight ${priority.weight}.`;
  if (csrfToken === undefined) return `<p>${said}</p>`;
  const options = Array.from({ length: LOWEST_LEVEL }, (_, index) => index + 1)
    .map(
      (level) =>
        `<option value="${level}"${level === priority.level ? ' selected' : ''}>${escapeHtml(level === Number(levelName(level)) ? String(level) : `${level} — ${levelName(level)}`)}</option>`,
    )
    .join('');
  const select = `<select name="priority" id="priority-level" aria-label="New priority">${options}</select> `;
  return `<p>${said} ${actionForm(`/batches/${id}/priority`, 'Set priority', csrfToken, select)}</p>`;
}

/** The batch's finish-by time: on time, or late (with the forecast) on a warning card. */
function finishByLine(finishBy: FinishByStatus): string {
  const forecast = finishBy.expectedAt ?? finishBy.plannedAt;
  const when = forecast === undefined ? '' : ` — expected to finish about ${escapeHtml(forecast)}`;
  return finishBy.late
    ? `<p class="card" id="finish-by" style="background:#fde2c8"><b>Late:</b> due by ${escapeHtml(finishBy.at)}${when}. Raise its priority above, or add hosts.</p>`
    : `<p id="finish-by">Due by ${escapeHtml(finishBy.at)}: on time${when}.</p>`;
}

/** The page of one batch. */
export function batchPage(data: BatchPageData): string {
  const { overview, figures } = data;
  const id = encodeURIComponent(overview.id);
  const cards = batchCards(overview);
  const failures = data.failures
    .map(
      (group) =>
        `<tr><td><b>${escapeHtml(group.code)}</b> (${group.count})</td><td>${group.examples
          .map(
            (line) =>
              `${escapeHtml(line.row_key)} (${escapeHtml(line.provider)}): ${escapeHtml(line.error?.message ?? '')}`,
          )
          .join('<br>')}</td></tr>`,
    )
    .join('');
  const matches =
    data.matches === undefined
      ? ''
      : `<table><thead><tr><th>Row</th><th>Status</th><th>Provider</th><th>Prompt</th></tr></thead><tbody>${
          data.matches
            .map(
              (line) =>
                `<tr><td>${escapeHtml(line.row_key)}</td><td>${escapeHtml(line.status)}</td><td>${escapeHtml(line.provider)}</td><td>${escapeHtml(line.prompt ?? '')}</td></tr>`,
            )
            .join('') || '<tr><td colspan="4">No row matches.</td></tr>'
        }</tbody></table>`;
  const gallery = data.gallery
    .map(
      (image) =>
        `<a href="/batches/${id}/files/${image.path.split('/').map(encodeURIComponent).join('/')}" title="${escapeHtml(image.rowKey)}"><img loading="lazy" alt="${escapeHtml(image.rowKey)}" src="/batches/${id}/thumbnails/${image.path.split('/').map(encodeURIComponent).join('/')}"></a>`,
    )
    .join('');
  return layout(
    `image-batch — ${overview.id}`,
    `<h1>Batch ${escapeHtml(overview.id)} <span class="state ${escapeHtml(overview.state)}" id="state">${escapeHtml(overview.state.replace('_', ' '))}</span></h1>
<div class="cards" id="cards">${cards}</div>
${data.pausedReason === undefined ? '' : `<p class="card" id="paused-reason" style="background:#fde2c8">Paused: ${escapeHtml(data.pausedReason)}.</p>`}
<p><a href="/batches/${id}/results.jsonl">results.jsonl</a> · <a href="/batches/${id}/report.csv">report (CSV)</a></p>
${
  data.csrfToken === undefined
    ? '<p><i>Read-only mode: write actions are off.</i></p>'
    : `<p id="actions">${overview.state === 'finished' ? '' : data.paused ? actionForm(`/batches/${id}/resume`, 'Resume batch', data.csrfToken) : actionForm(`/batches/${id}/pause`, 'Pause batch', data.csrfToken)}${
        overview.failed > 0
          ? ` <a href="/batches/${id}/retry-failed" id="retry-failed">Retry failed rows…</a>`
          : ''
      }</p>`
}
${priorityLine(data.priority, overview.state === 'finished' ? undefined : data.csrfToken, id)}
${data.finishBy === undefined ? '' : finishByLine(data.finishBy)}
${data.canary === undefined ? '' : canarySection(data.canary, id, data.csrfToken)}
${openaiBatchSection(data.openaiBatches)}
${chartsSection(overview.id, overview.state !== 'finished')}
${hostsSection(data.hosts)}
${costTable(figures)}
${provenanceTable(figures.provenance)}
${data.resultsProblem === undefined ? '' : `<p class="card" id="results-problem" style="background:#fde2c8">The results file could not be read (${escapeHtml(data.resultsProblem)}): the rows below are those recorded in Redis and not yet written.</p>`}
<h2>Failures by reason</h2><table id="failures"><tbody>${failures || '<tr><td>No failed rows.</td></tr>'}</tbody></table>
<h2>Search</h2><form class="search" method="get"><input name="q" value="${escapeHtml(data.query)}" placeholder="row key or prompt text"> <button>Search</button></form>${matches}
<h2>Gallery</h2><div class="gallery" id="gallery">${gallery || 'No images yet.'}</div>
<script>
setInterval(async () => {
  const response = await fetch(location.pathname + '/cards', { credentials: 'same-origin' });
  if (response.ok) document.getElementById('cards').innerHTML = await response.text();
}, 2000);
</script>`,
  );
}

/** The hosts of the batch: routed rows handed to each, images and spend, and why one is set aside. */
function hostsSection(hosts: readonly BatchHost[]): string {
  if (hosts.length === 0) return '';
  const rows = hosts
    .map(
      (host) =>
        `<tr><td>${escapeHtml(host.provider)}</td><td>${host.routedRows}</td><td>${host.images}</td><td>${usd(host.costUsd)}</td><td>${host.setAside === undefined ? 'open' : `<b>set aside</b>: ${escapeHtml(host.setAside)}`}</td></tr>`,
    )
    .join('');
  return `<section id="hosts"><h2>Hosts</h2>
<table><thead><tr><th>Host</th><th>Routed rows</th><th>Images</th><th>Spend</th><th>State</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

/** Each OpenAI batch of the run: its state, counts, and when its 24 h window ends. */
function openaiBatchSection(batches: BatchPageData['openaiBatches']): string {
  if (batches.waiting === 0 && batches.groups.length === 0) return '';
  const rows = batches.groups
    .map((group) => {
      const counts = group.counts;
      return `<tr><td>${escapeHtml(group.openaiBatchId ?? '(being built)')}</td><td>${group.operation}</td><td>${group.rows}</td><td>${escapeHtml(group.openaiStatus ?? group.state)}</td><td>${counts === undefined ? '—' : `${counts.completed} / ${counts.failed} / ${counts.total}`}</td><td>${group.expiresAt === undefined ? '—' : escapeHtml(new Date(group.expiresAt).toISOString().replace('T', ' ').slice(0, 16))} UTC</td></tr>`;
    })
    .join('');
  return `<section id="openai-batches"><h2>OpenAI Batch API</h2><p>${batches.waiting} rows waiting for a request file.</p>
<table><thead><tr><th>OpenAI batch</th><th>Mode</th><th>Rows</th><th>State</th><th>Completed / failed / total</th><th>Window ends</th></tr></thead><tbody>${rows || '<tr><td colspan="6">No OpenAI batch open.</td></tr>'}</tbody></table></section>`;
}

/** The canary awaiting approval: what it showed, and the Approve button (the gallery below shows its images). */
function canarySection(report: CanaryReport, id: string, csrfToken: string | undefined): string {
  const perImage = (value: number | null) => (value === null ? '—' : usd(value));
  const failures = Object.entries(report.failedByReason)
    .map(([reason, count]) => `${escapeHtml(reason)} ${count}`)
    .join(', ');
  const finished = report.completed + report.failed >= report.rows;
  return `<section id="canary"><h2>Canary</h2>
<p>${report.rows} rows run first: ${report.completed} completed, ${report.failed} failed${failures === '' ? '' : ` (${failures})`}; <b>${report.held}</b> rows held until approved.</p>
<p>Cost per image: estimated ${perImage(report.estimatedPerImageUsd)}, measured ${perImage(report.actualPerImageUsd)} (${escapeHtml(formatPercent(report.differencePercent))}${report.measured.images === 0 ? '; no canary row reported usage' : ''}).</p>
${csrfToken === undefined ? '' : `<p>${finished ? '' : '<i>The canary is still running.</i> '}${actionForm(`/batches/${id}/approve`, `Approve: run the ${report.held} held rows`, csrfToken)}</p>`}
</section>`;
}

/**
 * Estimate vs actual by provider × resolution tier: images and estimate of the completed rows, then — of the rows whose
 * provider reported usage — our estimate, the actual cost and the error in per cent.
 */
function costTable(figures: ReportFigures): string {
  const cell = (provider: string, tier: string, entry: TierCell | undefined) =>
    entry === undefined || (entry.images === 0 && provider !== 'all')
      ? ''
      : `<tr><td>${escapeHtml(provider)}</td><td>${tier}</td><td>${entry.images}</td><td>${usd(entry.cost_usd)}</td><td>${entry.estimated_usd_with_actual === null ? '—' : usd(entry.estimated_usd_with_actual)}</td><td>${entry.actual_usd === null ? '—' : usd(entry.actual_usd)}</td><td>${formatPercent(entry.difference_percent)}</td></tr>`;
  const rows = [
    ...Object.entries(figures.by_provider).flatMap(([provider, byTier]) =>
      RESOLUTION_TIERS.map((tier) => cell(provider, tier, byTier[tier])),
    ),
    ...RESOLUTION_TIERS.map((tier) => cell('all', tier, figures.cost_by_tier[tier])),
  ].join('');
  return `<h2>Cost: estimate vs actual</h2><table id="cost"><thead><tr><th>Provider</th><th>Tier</th><th>Images</th><th>Estimated</th><th>Estimated (rows with usage)</th><th>Actual</th><th>Error</th></tr></thead><tbody>${rows}</tbody></table>
<p class="note">Actual: from the usage the provider reported (OpenAI tokens); — where none did. Error = (actual − estimate) / estimate.</p>`;
}

/** Stored images by C2PA provenance (src/storage/provenance.ts). */
function provenanceTable({ valid, invalid, missing }: ReportFigures['provenance']): string {
  return `<h2>Provenance (C2PA)</h2><table id="provenance"><tbody><tr><td>valid</td><td>${valid}</td></tr><tr><td>invalid</td><td>${invalid}</td></tr><tr><td>missing</td><td>${missing}</td></tr></tbody></table>
<p class="note">Read from each stored image as the host delivered it: valid (signed and intact), invalid (changed after signing), missing (no manifest).</p>`;
}

/** The cards of the batch page (refreshed by its polling script). */
export function batchCards(overview: BatchOverview): string {
  return [
    ['Progress', `${overview.done} / ${overview.rows}`],
    ['Completed', overview.completed],
    ['Failed', overview.failed],
    ['Rejected', overview.rejected],
    ['Rate', `${overview.rowsPerMinute.toFixed(1)}/min`],
    overview.finishedAt === null
      ? ['ETA', duration(overview.etaSeconds)]
      : ['Finished', etaText(overview).slice(9)],
    ['Spent', `${usd(overview.spentUsd)}${overview.capUsd === null ? '' : ` of ${usd(overview.capUsd)}`}`],
  ]
    .map(([label, value]) => `<div class="card">${escapeHtml(label)}<b>${escapeHtml(value)}</b></div>`)
    .join('');
}

/** The confirmation page of "retry failed rows": a retry is a paid call, so the estimate comes first. */
export function retryConfirmationPage(input: {
  batchId: string;
  failedRows: number;
  estimateUsd: number;
  blockedReason: string | undefined;
  csrfToken: string;
}): string {
  const id = encodeURIComponent(input.batchId);
  const body =
    input.blockedReason !== undefined
      ? `<p>${escapeHtml(input.blockedReason)}</p>`
      : `<p>Retry <b id="retry-count">${input.failedRows}</b> failed rows of batch ${escapeHtml(input.batchId)}?
Each is a new paid call: estimated <b id="retry-estimate">${usd(input.estimateUsd)}</b>.</p>
${actionForm(`/batches/${id}/retry-failed`, `Retry ${input.failedRows} rows (${usd(input.estimateUsd)})`, input.csrfToken, '<input type="hidden" name="confirm" value="yes">')}`;
  return layout(
    `image-batch — retry ${input.batchId}`,
    `<h1>Retry failed rows</h1>${body}<p><a href="/batches/${id}">Back to the batch</a></p>`,
  );
}
