/*
 * Whether the job may run: the images ticked for it, the confirmation panel
 * (#confirm-panel) and the Run button. Any edit to the pipeline, the output
 * or the chosen images bumps state.revision, so a new check is needed, and
 * tells the onChange() listeners (the live preview).
 */
import { byId } from './dom.js';
import { state } from './state.js';

const listeners = []; /* called after every edit and every change of the chosen images */

/* Calls `fn` after every edit of the pipeline or the output and every
 * change of the chosen images (the live preview follows them). */
export function onChange(fn) {
    listeners.push(fn);
}

function changed() {
    for (const fn of listeners)
        fn();
}

/* The stored images ticked "use in the job". */
export function selectedImages() {
    return state.uploads.filter((u) => u.image && u.use.checked && !u.use.disabled);
}

/* Any edit to the pipeline, the output or the chosen images needs a new check. */
export function invalidate() {
    state.revision++;
    if (state.checked) {
        state.checked = null;
        byId('confirm-panel').hidden = true;
    }
    byId('run-button').disabled = true;
    changed();
}

/* Refreshes the confirmation text and the Run button for the chosen images. */
export function updateConfirm() {
    const checked = state.checked;
    const images = selectedImages();
    changed();
    if (!checked || checked.revision !== state.revision) {
        byId('run-button').disabled = true;
        return;
    }
    const output = checked.output;
    const quality = ['jpeg', 'webp', 'avif'].includes(output.format) ? ` quality ${output.quality}` : '';
    const frame = output.frame !== undefined ? `, frame ${output.frame} of animations` : '';
    byId('confirm-summary').textContent = images.length
        ? `This pipeline will run on ${images.length} image${images.length > 1 ? 's' : ''}, ` +
          `output ${output.format.toUpperCase()}${quality}${frame}:`
        : 'The pipeline is valid. Upload or choose at least one image to run it:';
    byId('run-button').disabled = images.length === 0;
}
