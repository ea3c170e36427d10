/*
 * Check and Run: the output settings (#output-format, #output-quality),
 * "Check pipeline" (POST /pipelines/validate, then #confirm-panel shows the
 * normalized pipeline; a bad field is marked where it is, steps.js markField) and "Run" (POST /jobs with exactly what was shown,
 * then the job panel follows the new job).
 */
import { loadAccount } from './account.js';
import { API, ApiError, sendJson } from './api.js';
import { invalidate, selectedImages, updateConfirm } from './confirm.js';
import { byId } from './dom.js';
import { loadJobs, openJob, resetJobPanel } from './jobs.js';
import { report, say, showError } from './messages.js';
import { state } from './state.js';
import { FieldError, clearFieldErrors, markField } from './fields.js';
import { buildPipeline } from './steps.js';

/* The output fields as a job's "output"; throws Error when quality is bad. */
export function outputSettings() {
    const quality = byId('output-quality');
    if (!quality.checkValidity())
        throw new Error('Quality must be a whole number from 1 to 100');
    return { format: byId('output-format').value, quality: Number(quality.value) };
}

/* Shows a 400 about the pipeline next to the field it names (or at the
 * top when it names none); false for any other error. */
function showPipelineError(err) {
    if (!(err instanceof ApiError) || err.status !== 400)
        return false;
    const upload = err.image && selectedImages().find((u) => u.image.id === err.image);
    if (upload) {
        showError(`The pipeline cannot run on ${upload.image.name || err.image}: ${err.message}.`);
        return true;
    }
    const message = `Not valid: ${err.message || 'the server rejected it'}.`;
    if (err.step && markField(err.step - 1, err.param, message))
        say(`Step ${err.step} needs a change: see the marked field.`);
    else
        showError(`The pipeline is not valid: ${err.message || 'the server rejected it'}.`);
    return true;
}

/* Check pipeline: validates the steps (and the chosen images) and shows
 * the confirmation; a preset runs it as soon as its steps are in. */
export async function checkPipeline() {
    showError('');
    clearFieldErrors();
    let pipeline, output;
    try {
        pipeline = buildPipeline();
        output = outputSettings();
    } catch (err) {
        if (err instanceof FieldError && markField(err.index, err.param, `${err.message}.`))
            say(`Step ${err.index + 1} needs a change: see the marked field.`);
        else
            showError(`${err.message}.`);
        return;
    }
    const revision = state.revision;
    say('Checking the pipeline…');
    try {
        /* With the chosen images, what depends on them (a crop outside one)
         * is refused here too, with the message the job would have failed with. */
        const images = selectedImages().map((u) => u.image.id);
        const body = images.length ? { pipeline, images } : { pipeline };
        const result = await sendJson('POST', `${API}/pipelines/validate`, body);
        if (revision !== state.revision)
            return;
        state.checked = { revision, text: result.text, pipeline: result.pipeline, output };
        byId('pipeline-text').textContent = result.text;
        byId('confirm-panel').hidden = false;
        updateConfirm();
        say(`Pipeline checked: ${result.text}`);
    } catch (err) {
        say('');
        if (!showPipelineError(err))
            report(err, 'Checking the pipeline');
    }
}

async function runJob() {
    const checked = state.checked;
    const images = selectedImages();
    if (!checked || checked.revision !== state.revision || !images.length)
        return;
    showError('');
    byId('run-button').disabled = true;
    resetJobPanel();
    say('Starting the job…');
    try {
        const job = await sendJson('POST', `${API}/jobs`, {
            images: images.map((u) => u.image.id),
            pipeline: checked.pipeline,
            output: checked.output,
        });
        say(`Job ${job.id} started: ${job.pipeline_text}`);
        openJob(job);
        loadJobs();
        loadAccount();
    } catch (err) {
        byId('run-button').disabled = false;
        say('');
        if (!(err instanceof ApiError && err.step && showPipelineError(err)))
            report(err, 'Starting the job');
    }
}

/* Wires the output settings, Check pipeline and Run. */
export function setupRun() {
    byId('output-format').addEventListener('change', invalidate);
    byId('output-quality').addEventListener('input', invalidate);
    byId('check-button').addEventListener('click', checkPipeline);
    byId('run-button').addEventListener('click', runJob);
}
