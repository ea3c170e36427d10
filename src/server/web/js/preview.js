/*
 * The live preview beside the editor (#preview-panel): the pipeline as it
 * stands run by the server on a small copy of the first chosen image (POST
 * /images/{id}/preview), shown through a blob: URL in #preview-image.
 * It follows every edit and every change of the chosen images
 * (confirm.js onChange), 300 ms after the last one; a newer request aborts
 * the one in flight (AbortController), and the server also drops an older
 * preview of the account ("superseded"). #preview-panel has data-state
 * idle | updating | ready | error; #preview-status says what is shown.
 */
import { API, ApiError, request } from './api.js';
import { onChange, selectedImages } from './confirm.js';
import { byId } from './dom.js';
import { plainError } from './messages.js';
import { state } from './state.js';
import { buildPipeline } from './steps.js';

const DEBOUNCE_MS = 300;
let timer = null;      /* the pending refresh */
let controller = null; /* aborts the request in flight */
let shownKey = '';     /* image id + pipeline of the request in flight or shown */
let url = null;        /* the blob: URL shown */

function show(stateName, text) {
    byId('preview-panel').dataset.state = stateName;
    byId('preview-status').textContent = text;
}

/* Nothing to preview: hides the picture and says why. */
function idle(text) {
    if (controller)
        controller.abort();
    controller = null;
    shownKey = '';
    byId('preview-image').hidden = true;
    if (url)
        URL.revokeObjectURL(url);
    url = null;
    show('idle', text);
}

/* The pipeline as JSON, or null after saying why there is none. */
function pipelineNow() {
    try {
        return buildPipeline();
    } catch (err) {
        idle(err.index === undefined ? 'Add a step to see its effect here.'
            : `Preview paused: ${err.message}.`);
        return null;
    }
}

async function refresh() {
    timer = null;
    const entry = selectedImages()[0];
    if (!state.token || !entry) {
        idle('Tick an image in the library to preview the pipeline on it.');
        return;
    }
    const pipeline = pipelineNow();
    if (!pipeline)
        return;
    const key = JSON.stringify([entry.image.id, pipeline]);
    if (key === shownKey)
        return;
    shownKey = key;
    if (controller)
        controller.abort();
    const mine = new AbortController();
    controller = mine;
    const name = entry.image.name || entry.image.id;
    show('updating', `Updating the preview of ${name}…`);
    try {
        const response = await request(`${API}/images/${encodeURIComponent(entry.image.id)}/preview`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ pipeline }),
            signal: mine.signal,
        });
        const blob = await response.blob();
        if (controller !== mine)
            return;
        const img = byId('preview-image');
        if (url)
            URL.revokeObjectURL(url);
        url = URL.createObjectURL(blob);
        img.src = url;
        img.alt = `Preview of the pipeline on ${name}`;
        img.dataset.key = key;
        img.hidden = false;
        show('ready', `${name}, on a small copy: sizes and positions are scaled to it; ` +
            'blurs look stronger than on the full image.');
    } catch (err) {
        if (controller !== mine || err.name === 'AbortError')
            return; /* a newer preview is on its way */
        controller = null;
        shownKey = '';
        byId('preview-image').hidden = true;
        if (err instanceof ApiError && err.code === 'superseded')
            show('error', 'Another window of your account asked for a preview, which replaced ' +
                'this one. Change a value to preview here again.');
        else
            show('error', err instanceof ApiError && [400, 413, 422].includes(err.status)
                ? `No preview: ${err.message}.` : plainError(err, 'The preview'));
    }
}

/* Refreshes the preview DEBOUNCE_MS after the last change. */
export function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(refresh, DEBOUNCE_MS);
}

/* Follows the editor and the chosen images. */
export function setupPreview() {
    onChange(schedulePreview);
    idle('Tick an image in the library to preview the pipeline on it.');
}
