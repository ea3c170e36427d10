/*
 * Check and Run: the output settings (#output-format, #output-quality,
 * #output-frame: the frame of animated inputs, checked against the chosen
 * images' frame counts before asking the server),
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

const ANIMATED = ['gif', 'webp']; /* output formats that keep every frame */

/* An output field that is not valid: `id` is its element's. */
export class OutputError extends Error {
    constructor(message, id) {
        super(message);
        this.id = id;
    }
}

/* The output fields as a job's "output" ("frame" only when one is given);
 * throws OutputError when quality or the frame is bad. */
export function outputSettings() {
    const quality = byId('output-quality');
    const frame = byId('output-frame');
    if (!quality.checkValidity())
        throw new OutputError('Quality must be a whole number from 1 to 100', 'output-quality');
    if (!frame.checkValidity())
        throw new OutputError('The frame must be a whole number, 0 or more (0 = the first)', 'output-frame');
    const output = { format: byId('output-format').value, quality: Number(quality.value) };
    if (frame.value !== '')
        output.frame = Number(frame.value);
    return output;
}

/* Why `output` cannot take the chosen animations (the server's check,
 * said before asking it), else ''. */
function frameProblem(output, images) {
    for (const u of images) {
        const frames = u.image.frames || 1;
        const name = u.image.name || u.image.id;
        if (frames < 2)
            continue;
        if (output.frame === undefined && !ANIMATED.includes(output.format))
            return `${name} is an animation of ${frames} frames and ${output.format.toUpperCase()} holds ` +
                `one: give the frame to take (0 to ${frames - 1}), or choose GIF or WebP to keep them all`;
        if (output.frame !== undefined && output.frame >= frames)
            return `${name} has ${frames} frames: frame ${output.frame} does not exist (0 to ${frames - 1})`;
    }
    return '';
}

/* Marks output field `id` with `message` (aria-invalid, the note, focus). */
function markOutput(id, message) {
    const control = byId(id);
    control.setAttribute('aria-invalid', 'true');
    if (id === 'output-frame') {
        byId('output-frame-error').textContent = message;
        byId('output-frame-error').hidden = false;
        control.setAttribute('aria-describedby', 'output-frame-hint output-frame-error');
    } else {
        showError(message);
    }
    control.focus();
    say(`The output settings need a change: ${message}.`);
}

function clearOutputErrors() {
    for (const id of ['output-quality', 'output-frame'])
        byId(id).removeAttribute('aria-invalid');
    byId('output-frame-error').hidden = true;
    byId('output-frame-error').textContent = '';
    byId('output-frame').setAttribute('aria-describedby', 'output-frame-hint');
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
    clearOutputErrors();
    let pipeline, output;
    try {
        pipeline = buildPipeline();
        output = outputSettings();
    } catch (err) {
        if (err instanceof FieldError && markField(err.index, err.param, `${err.message}.`))
            say(`Step ${err.index + 1} needs a change: see the marked field.`);
        else if (err instanceof OutputError)
            markOutput(err.id, `${err.message}.`);
        else
            showError(`${err.message}.`);
        return;
    }
    const problem = frameProblem(output, selectedImages());
    if (problem) {
        markOutput('output-frame', `${problem}.`);
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
    byId('output-frame').addEventListener('input', invalidate);
    byId('check-button').addEventListener('click', checkPipeline);
    byId('run-button').addEventListener('click', runJob);
}
