/*
 * The workers table (#workers-section): GET /workers every 2 s while
 * signed in and the page is visible; a 403 (not an administrator) hides
 * the section and stops the refresh.
 */
import { API, ApiError, getJson } from './api.js';
import { byId, el } from './dom.js';
import { ago } from './format.js';
import { plainError, report } from './messages.js';

const WORKERS_REFRESH_MS = 2000;

let workersTimer = null; /* interval refreshing the workers table */

function workerRow(w) {
    const load = Number(w.load);
    const threads = Number(w.threads) || 0;
    const loadText = Number.isFinite(load) && threads
        ? `${Math.round(load * 100)}% (${Number(w.inflight) || 0} of ${threads})` : '';
    const cell = (v) => el('td', { text: v === undefined || v === null ? '' : String(v) });
    const row = el('tr', { testid: 'worker-row' }, [
        el('th', { scope: 'row' }, [el('code', { text: w.id })]),
        cell(w.host),
        cell(w.cores),
        cell(w.threads),
        el('td', { testid: 'worker-backend', title: w.device || '' }, [
            (w.backends || ['cpu']).join(', '),
            w.device ? el('span', { class: 'hint', text: ` (${w.device.split(' (')[0]})` }) : '',
        ]),
        el('td', { class: `state state-${w.state}`, text: w.state }),
        cell(w.tiles_done),
        cell(w.failures),
        cell(loadText),
        cell(ago(w.seen_ago_s)),
    ]);
    row.dataset.workerId = w.id;
    row.dataset.state = w.state;
    return row;
}

function workersSummary(body, workers) {
    const own = body.backend === 'opencl' ? ` on OpenCL ${body.device}` : ' on the CPU';
    if (body.mode !== 'redis')
        return `Local mode: tiles are computed by this server's own threads${own}.`;
    const count = (s) => workers.filter((w) => w.state === s).length;
    const q = body.queue || {};
    const redis = body.redis_up ? '' : ' Redis cannot be reached right now; the list may be stale.';
    return `Redis fleet "${body.cluster}": ${count('running')} running, ${count('draining')} draining, ` +
        `${count('lost')} lost. Queue: ${Math.max(0, q.tasks || 0)} tasks, ` +
        `${Math.max(0, q.pending || 0)} being computed, ${Math.max(0, q.dead || 0)} dead.${redis}`;
}

async function loadWorkers() {
    try {
        const body = await getJson(`${API}/workers`);
        const workers = body.workers || [];
        byId('workers-body').replaceChildren(...workers.map(workerRow));
        byId('workers-table').hidden = workers.length === 0;
        byId('workers-empty').hidden = workers.length > 0 || body.mode === 'redis';
        byId('workers-summary').textContent = workersSummary(body, workers);
    } catch (err) {
        if (err instanceof ApiError && err.status === 403) {
            stopWorkers();
            byId('workers-section').hidden = true;
        } else if (err instanceof ApiError && err.status === 401) {
            report(err, 'Listing the workers');
        } else if (err.name !== 'AbortError') {
            /* Not an alert every 2 s: the summary says it. */
            byId('workers-summary').textContent = plainError(err, 'Listing the workers');
        }
    }
}

export function startWorkers() {
    stopWorkers();
    byId('workers-section').hidden = false;
    loadWorkers();
    workersTimer = setInterval(() => {
        if (!document.hidden)
            loadWorkers();
    }, WORKERS_REFRESH_MS);
}

export function stopWorkers() {
    if (workersTimer !== null)
        clearInterval(workersTimer);
    workersTimer = null;
}
