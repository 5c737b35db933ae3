/**
 * The "New batch" page (`/batches/new`, docs/dashboard.md): choose or drop a manifest, see its rejects with their
 * lines and the estimate by host and resolution tier (with the cheaper-size hints), set the budget, canary and
 * delivery, start — then the batch page. The page only calls the HTTP API (`POST /api/estimates`, then
 * `POST /api/batches`, with its CSRF token in `x-csrf-token`), so it keeps every rule of the API; what it shows of a
 * manifest is set with `textContent`, never as HTML.
 */
import { escapeHtml } from './html.js';

/** The page's script: reads the file, asks for the estimate, shows it, starts the batch. */
const NEW_BATCH_SCRIPT = String.raw`
(() => {
  const form = document.getElementById('new-batch');
  const drop = document.getElementById('drop');
  const input = form.elements.manifest;
  const result = document.getElementById('checked');
  const message = document.getElementById('message');
  const start = document.getElementById('start');
  let file;
  const say = (text) => { message.textContent = text; };
  const cell = (row, text) => { const td = document.createElement('td'); td.textContent = String(text); row.append(td); };
  const usd = (value) => '$' + Number(value).toFixed(4);
  function query() {
    const params = new URLSearchParams();
    const stem = file.name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 60) || 'upload';
    params.set('name', stem);
    params.set('format', /\.csv$/i.test(file.name) ? 'csv' : 'jsonl');
    for (const name of ['budget_usd', 'canary', 'delivery', 'providers']) {
      const value = form.elements[name].value.trim();
      if (value !== '') params.set(name, value);
    }
    return params;
  }
  async function send(path) {
    const response = await fetch(path + '?' + query(), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': /\.csv$/i.test(file.name) ? 'text/csv' : 'application/x-ndjson', 'x-csrf-token': form.dataset.csrf },
      body: file,
    });
    const body = await response.json().catch(() => ({ error: 'HTTP ' + response.status }));
    if (!response.ok) throw new Error((body.error || 'HTTP ' + response.status) + (body.issues ? ': ' + body.issues.map((issue) => issue.field + ' ' + issue.message).join('; ') : ''));
    return body;
  }
  function table(id, rows) {
    const body = document.querySelector('#' + id + ' tbody');
    body.replaceChildren();
    for (const values of rows) { const row = document.createElement('tr'); for (const value of values) cell(row, value); body.append(row); }
    document.getElementById(id).hidden = rows.length === 0;
  }
  function show(answer) {
    document.getElementById('summary').textContent = answer.rows_read + ' rows read: ' + answer.rows_priced + ' priced, ' + answer.rejected + ' rejected; estimate ' + usd(answer.estimate.cost_usd) + '.';
    table('rejects', answer.reject_samples.map((reject) => [reject.line, reject.row_key ?? '', reject.field ?? '', reject.message]));
    document.getElementById('more-rejects').textContent = answer.rejected > answer.reject_samples.length ? '… and ' + (answer.rejected - answer.reject_samples.length) + ' more rejected rows.' : '';
    const estimate = [];
    for (const [host, tiers] of Object.entries(answer.estimate.by_provider)) for (const [tier, figures] of Object.entries(tiers)) if (figures.images > 0) estimate.push([host, tier, figures.images, usd(figures.cost_usd)]);
    table('estimate', estimate);
    table('hints', answer.hints.map((hint) => [hint.provider + ' ' + hint.resolution + ' ' + hint.quality + ' (' + hint.rows + ' rows)', hint.cheaper_resolution + ' at ' + usd(hint.cheaper_usd_per_image) + ' instead of ' + usd(hint.usd_per_image), usd(hint.saves_usd)]));
    result.hidden = false;
    start.disabled = answer.rows_priced === 0;
  }
  async function check() {
    if (file === undefined) return;
    start.disabled = true;
    say('Checking ' + file.name + '…');
    try { show(await send('/api/estimates')); say(''); } catch (error) { result.hidden = true; say(error.message); }
  }
  function choose(chosen) { if (chosen === undefined) return; file = chosen; drop.querySelector('.file').textContent = chosen.name; void check(); }
  input.addEventListener('change', () => choose(input.files[0]));
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => { event.preventDefault(); drop.classList.remove('over'); choose(event.dataTransfer.files[0]); });
  for (const name of ['delivery', 'providers']) form.elements[name].addEventListener('change', () => void check());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (file === undefined) return;
    start.disabled = true;
    say('Starting…');
    try { const batch = await send('/api/batches'); location.assign('/batches/' + encodeURIComponent(batch.batch_id)); }
    catch (error) { say(error.message); start.disabled = false; }
  });
})();
`;

/** The "New batch" page; `csrfToken` goes with each of its requests, `readOnly` shows it disabled. */
export function newBatchBody(csrfToken: string, readOnly: boolean): string {
  if (readOnly)
    return '<h1>New batch</h1><p>This dashboard is read-only: batches cannot be started here.</p>';
  return `<h1>New batch</h1>
<form id="new-batch" data-csrf="${escapeHtml(csrfToken)}">
<label id="drop" class="drop">Drop a manifest (.csv or .jsonl) here, or choose one:
<input type="file" name="manifest" accept=".csv,.jsonl,text/csv,application/x-ndjson"> <span class="file"></span></label>
<p><label>Budget cap (USD) <input name="budget_usd" inputmode="decimal" size="8"></label>
<label>Canary rows <input name="canary" inputmode="numeric" size="5"></label>
<label>Delivery <select name="delivery"><option value="">as each row says (realtime)</option><option value="realtime">realtime</option><option value="batch">OpenAI Batch API (half price, within 24 h)</option></select></label>
<label>Hosts of rows naming none <input name="providers" placeholder="auto, or openai,fal" size="16"></label></p>
<p id="message" role="status"></p>
<section id="checked" hidden>
<p id="summary"></p>
<table id="rejects" hidden><caption>Rejected rows (not enqueued)</caption><thead><tr><th>line</th><th>row</th><th>field</th><th>why</th></tr></thead><tbody></tbody></table>
<p id="more-rejects"></p>
<table id="estimate" hidden><caption>Estimate by host and resolution tier</caption><thead><tr><th>host</th><th>tier</th><th>images</th><th>USD</th></tr></thead><tbody></tbody></table>
<table id="hints" hidden><caption>Cheaper sizes with at least as many pixels</caption><thead><tr><th>rows</th><th>instead</th><th>saves</th></tr></thead><tbody></tbody></table>
</section>
<p><button id="start" type="submit" disabled>Start the batch</button></p>
</form>
<style>.drop{display:block;border:2px dashed #b8c0cc;border-radius:8px;padding:24px;margin-bottom:12px;background:#fff}
.drop.over{border-color:#2457c5;background:#eef3fc}caption{text-align:left;font-weight:600;padding:8px 0}
#new-batch label{margin-right:16px}table{margin-bottom:12px}</style>
<script>${NEW_BATCH_SCRIPT}</script>`;
}
