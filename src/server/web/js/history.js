/*
 * Job history: the past-jobs table (#jobs-body) with each job's name,
 * creation time, state, duration, output size, image count, pipeline and
 * the owner's rating (feedback.js),
 * a state filter (#jobs-state-filter, GET /jobs?state=), paging
 * (?limit=&offset=, the answer's total) and per job: Show (opens it in the
 * job panel), Download, Rerun (POST /jobs/{id}/rerun: a new job with the
 * same images and pipeline, followed in the panel) and Delete (cancel
 * first if active, then DELETE /jobs/{id}?purge=true). The job panel
 * (jobs.js) hands in its openJob through setupHistory, so this module does
 * not import it.
 */
import { loadAccount } from './account.js';
import { API, getJson, sendJson } from './api.js';
import { byId, el } from './dom.js';
import { stars } from './feedback.js';
import { shortBytes } from './format.js';
import { report, say } from './messages.js';
import { downloadJob } from './results.js';

const PAGE = 20;          /* jobs per page */
const ACTIVE = ['queued', 'running'];
let offset = 0;           /* first job of the page shown */
let total = 0;            /* jobs matching the filter */
let open = () => {};      /* the job panel's openJob */
let loading = 0;          /* generation of the latest list request */

/* "2.4 s", "3 min 5 s"; "–" while unknown. */
function seconds(job) {
    const s = Number(job.seconds);
    if (job.seconds === null || job.seconds === undefined || !Number.isFinite(s))
        return '–';
    return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

async function openById(id) {
    try {
        open(await getJson(`${API}/jobs/${encodeURIComponent(id)}`));
    } catch (err) {
        report(err, 'Opening the job');
    }
}

async function rerun(job) {
    try {
        say(`Running ${job.name || `job ${job.id}`} again…`);
        const made = await sendJson('POST', `${API}/jobs/${encodeURIComponent(job.id)}/rerun`);
        say(`Job ${made.id} reruns job ${job.id}.`);
        open(made);
        loadHistory();
        loadAccount();
    } catch (err) {
        report(err, 'Running the job again');
    }
}

async function remove(job) {
    const what = job.name ? `the job “${job.name}”` : `job ${job.id}`;
    const active = ACTIVE.includes(job.state);
    if (!window.confirm(`Delete ${what} and its results?${active ? ' It is still running: it will be cancelled.' : ''}`))
        return;
    const path = `${API}/jobs/${encodeURIComponent(job.id)}`;
    try {
        if (active)
            await sendJson('DELETE', path);
        for (let tries = 0; ; tries++) {
            try {
                await sendJson('DELETE', `${path}?purge=true`);
                break;
            } catch (err) { /* 409 while a cancelled job's last tiles stop */
                if (err.status !== 409 || tries >= 20)
                    throw err;
                await new Promise((resolve) => setTimeout(resolve, 250));
            }
        }
        say(`Deleted ${what}.`);
        if (offset > 0 && offset >= total - 1)
            offset = Math.max(0, offset - PAGE);
        loadHistory();
        loadAccount();
    } catch (err) {
        report(err, 'Deleting the job');
    }
}

function button(testid, text, label, action) {
    const b = el('button', { type: 'button', testid, text, 'aria-label': label });
    b.addEventListener('click', action);
    return b;
}

/* The owner's rating as stars with its number for screen readers, or "–". */
function ratingCell(feedback) {
    if (!feedback)
        return el('td', { testid: 'job-rating', text: '–' });
    const cell = el('td', { class: 'job-rating', testid: 'job-rating' }, [
        el('span', { 'aria-hidden': 'true', text: stars(feedback.rating) }),
        el('span', { class: 'visually-hidden', text: `${feedback.rating} of 5` }),
    ]);
    cell.dataset.rating = String(feedback.rating);
    return cell;
}

function jobRow(job) {
    const created = job.created ? new Date(job.created).toLocaleString() : '';
    const name = job.name || `job ${job.id.slice(0, 8)}`;
    const actions = [button('job-open', 'Show', `Show ${name}`, () => openById(job.id))];
    if (job.state === 'succeeded')
        actions.push(button('job-download', 'Download', `Download the result of ${name}`, () => downloadJob(job)));
    if (!ACTIVE.includes(job.state))
        actions.push(button('job-rerun', 'Rerun', `Run ${name} again`, () => rerun(job)));
    actions.push(button('job-delete', 'Delete', `Delete ${name}`, () => remove(job)));
    const row = el('tr', { testid: 'job-row' }, [
        el('td', { class: 'job-name', testid: 'job-name', text: name }),
        el('td', { text: created }),
        el('td', { class: `state state-${job.state}`, text: job.state }),
        el('td', { testid: 'job-duration', text: seconds(job) }),
        el('td', { testid: 'job-size', text: job.output_bytes ? shortBytes(job.output_bytes) : '–' }),
        el('td', { text: String((job.items || []).length) }),
        el('td', {}, [el('code', { text: job.pipeline_text })]),
        ratingCell(job.feedback),
        el('td', { class: 'actions' }, actions),
    ]);
    row.dataset.jobId = job.id;
    row.dataset.state = job.state;
    return row;
}

/* Redraws `job`'s row when it is on the page (the panel's live updates). */
export function updateHistoryRow(job) {
    const old = Array.from(byId('jobs-body').rows).find((r) => r.dataset.jobId === job.id);
    if (old)
        old.replaceWith(jobRow(job));
}

function showPager() {
    byId('jobs-prev').disabled = offset === 0;
    byId('jobs-next').disabled = offset + PAGE >= total;
    byId('jobs-page').textContent = total ? `${offset + 1}–${Math.min(total, offset + PAGE)} of ${total}` : '';
}

/* Loads the page of jobs at `offset` for the state filter. */
export async function loadHistory() {
    const generation = ++loading;
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    const filter = byId('jobs-state-filter').value;
    if (filter)
        params.set('state', filter);
    try {
        const body = await getJson(`${API}/jobs?${params}`);
        if (generation !== loading)
            return;
        const jobs = body.jobs || [];
        total = body.total || 0;
        byId('jobs-body').replaceChildren(...jobs.map(jobRow));
        byId('jobs-empty').hidden = jobs.length > 0;
        byId('jobs-empty').textContent = filter ? `No ${filter} jobs.` : 'No jobs yet.';
        showPager();
    } catch (err) {
        report(err, 'Listing your jobs');
    }
}

/* Wires Refresh, the state filter and the pager; `openJob` shows a job in
 * the job panel. */
export function setupHistory(openJob) {
    open = openJob;
    byId('jobs-refresh-button').addEventListener('click', loadHistory);
    byId('jobs-state-filter').addEventListener('change', () => {
        offset = 0;
        loadHistory();
    });
    byId('jobs-prev').addEventListener('click', () => {
        offset = Math.max(0, offset - PAGE);
        loadHistory();
    });
    byId('jobs-next').addEventListener('click', () => {
        offset += PAGE;
        loadHistory();
    });
}
