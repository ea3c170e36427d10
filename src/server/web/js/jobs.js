/*
 * Jobs: the job panel (#job-panel) with its progress bar, state, errors and
 * Cancel button, fed through follow.js (the event stream, polling, and
 * reconnecting after a server restart, shown as "reconnecting…").
 * The past-jobs table is history.js, whose "Show" and "Rerun" open a job here;
 * the rating form of a finished job is feedback.js.
 */
import { loadAccount } from './account.js';
import { API, getJson, sendJson } from './api.js';
import { byId, el } from './dom.js';
import { hideFeedback, setupFeedback, showFeedback } from './feedback.js';
import { TERMINAL, followJob } from './follow.js';
import { duration, formatEta, shortBytes } from './format.js';
import { loadHistory, setupHistory, updateHistoryRow } from './history.js';
import { report, say, showError } from './messages.js';
import { clearResults, downloadJob, showResults } from './results.js';
import { imageName } from './uploads.js';

let shown = null;  /* the job shown in the panel */
let follow = null; /* AbortController of the event stream being read */

function showProgress(job) {
    const done = job.state === 'succeeded';
    const percent = done ? 100 : Math.max(0, Math.min(100, Number(job.percent) || 0));
    const whole = Math.floor(percent);
    const bar = byId('progress');
    bar.setAttribute('aria-valuenow', String(whole));
    byId('progress-bar').style.width = `${percent}%`;
    let text;
    if (job.state === 'queued')
        text = 'Queued, waiting for a free worker…';
    else if (job.state === 'running')
        text = `${whole}% · ${formatEta(job.eta_seconds)} · ${job.tiles_done} of ${job.tiles_total} tiles`;
    else if (done)
        text = `100% · done in ${duration(job)}`;
    else if (job.state === 'submitting')
        text = 'Starting…';
    else
        text = `${whole}% · ${job.state}`;
    bar.setAttribute('aria-valuetext', text);
    byId('progress-text').textContent = text;
}

/* "Ran with tessera 0.1.0: grayscale@1, blur@1 · png, quality 85, tile 256
 * [, frame 1] · saved pipeline thumbs version 2": what a rerun repeats. */
function versionsText(job) {
    const v = job.versions || {};
    const ops = (v.ops || []).map((o) => (o.version ? `${o.op}@${o.version}` : o.op)).join(', ');
    const out = job.output || {};
    const parts = [`Ran with tessera ${v.tessera || '(not recorded)'}: ${ops}`,
        `${out.format}, quality ${out.quality}${out.tile ? `, tile ${out.tile}` : ''}` +
        `${out.frame !== undefined ? `, frame ${out.frame}` : ''}`];
    if (job.saved_pipeline)
        parts.push(`saved pipeline ${job.saved_pipeline.name} version ${job.saved_pipeline.version}`);
    return parts.join(' · ');
}

function showJob(job) {
    shown = job;
    const panel = byId('job-panel');
    panel.hidden = false;
    panel.dataset.jobId = job.id;
    panel.dataset.state = job.state;
    byId('job-state').textContent = `Job ${job.id}: ${job.state} — ${job.pipeline_text}`;
    byId('job-versions').textContent = versionsText(job);
    showProgress(job);
    const errors = [];
    if (job.error)
        errors.push(job.error);
    for (const item of job.items || [])
        if (item.error)
            errors.push(`${imageName(item.image)}: ${item.error}`);
    byId('job-errors').replaceChildren(...errors.map((e) => el('li', { class: 'error-text', text: e })));
    if (errors.length && job.state === 'failed')
        showError(`The job failed: ${errors[0]}`);
    byId('cancel-button').hidden = TERMINAL.includes(job.state);
    showFeedback(job);
    byId('job-usage').textContent = usageText(job);
    updateHistoryRow(job);
}

/* What the job used, and its cost when the server has a price table. */
function usageText(job) {
    const u = job.usage;
    if (!u || !TERMINAL.includes(job.state))
        return '';
    let text = `Used ${u.cpu_seconds.toFixed(2)} CPU s`;
    if (u.gpu_seconds > 0)
        text += `, ${u.gpu_seconds.toFixed(2)} GPU s`;
    text += `, read ${shortBytes(u.read_bytes)}, wrote ${shortBytes(u.written_bytes)}`;
    if (u.network_bytes > 0)
        text += `, ${shortBytes(u.network_bytes)} to workers`;
    if (job.cost)
        text += ` · cost ${job.cost.total.toFixed(6)} ${job.cost.currency}`;
    return text;
}

export function stopFollowing() {
    if (follow) {
        follow.abort();
        follow = null;
    }
}

/* Empties the progress panel while a new job is being created. */
export function resetJobPanel() {
    stopFollowing();
    clearResults();
    shown = null;
    const panel = byId('job-panel');
    panel.hidden = false;
    panel.dataset.state = 'submitting';
    delete panel.dataset.jobId;
    byId('job-state').textContent = 'Starting the job…';
    byId('job-errors').replaceChildren();
    byId('job-usage').textContent = '';
    byId('cancel-button').hidden = true;
    hideFeedback();
    showProgress({ state: 'submitting', percent: 0 });
}

/* Shows whether the server answers while a job is followed: "reconnecting…" on the panel. */
function showConnection(job, connected) {
    const line = byId('job-connection');
    const panel = byId('job-panel');
    if (connected) {
        line.hidden = true;
        line.textContent = '';
        delete panel.dataset.connection;
        say(`Reconnected; showing job ${job.id} as the server has it now.`);
        return;
    }
    panel.dataset.connection = 'reconnecting';
    line.textContent = 'Lost the connection to the server; reconnecting… (the job goes on on the server)';
    line.hidden = false;
    say('Reconnecting to the server…');
}

/* Shows `job` and follows it until it ends, through server restarts (follow.js). */
export function openJob(job) {
    stopFollowing();
    clearResults();
    showJob(job);
    byId('job-panel').scrollIntoView({ block: 'nearest' });
    if (TERMINAL.includes(job.state)) {
        finishJob(job);
        return;
    }
    const controller = new AbortController();
    follow = controller;
    const onJob = (update) => {
        if (!controller.signal.aborted && (!shown || update.id === shown.id))
            showJob(update);
    };
    followJob(job.id, controller.signal, onJob, (connected) => showConnection(job, connected))
        .then((final) => {
            if (final && !controller.signal.aborted)
                finishJob(final);
        })
        .catch((err) => report(err, 'Following the job'));
}

function finishJob(job) {
    if (follow && shown && shown.id === job.id)
        follow = null;
    byId('job-connection').hidden = true;
    delete byId('job-panel').dataset.connection;
    if (job.state === 'succeeded')
        say(`Job ${job.id} finished: 100%.`);
    else if (job.state === 'cancelled')
        say(`Job ${job.id} was cancelled.`);
    else if (job.state === 'failed' && !job.error && !(job.items || []).some((i) => i.error))
        showError(`The job failed.`);
    showResults(job);
    loadJobs();
    loadAccount();
}

async function cancelJob() {
    const job = shown;
    if (!job)
        return;
    try {
        say(`Cancelling job ${job.id}…`);
        const updated = await sendJson('DELETE', `${API}/jobs/${encodeURIComponent(job.id)}`);
        if (updated && shown && updated.id === shown.id) {
            showJob(updated);
            if (TERMINAL.includes(updated.state)) {
                stopFollowing();
                finishJob(updated);
            }
        }
    } catch (err) {
        report(err, 'Cancelling the job');
    }
}

/* Reloads the past-jobs table (history.js). */
export function loadJobs() {
    return loadHistory();
}

/* Wires Cancel, the job's Download button, the past jobs and the rating form. */
export function setupJobs() {
    byId('cancel-button').addEventListener('click', cancelJob);
    byId('download-button').addEventListener('click', () => shown && downloadJob(shown));
    setupHistory(openJob);
    setupFeedback((id, feedback) => {
        if (shown && shown.id === id) {
            shown = { ...shown, feedback };
            updateHistoryRow(shown);
        }
    });
}
