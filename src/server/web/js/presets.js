/*
 * "Start from a preset" (#preset-select, #preset-description): the
 * ready-made pipelines of GET /presets. Picking one replaces the steps with
 * its normalized steps (steps.js setSteps: the editor is as if the user had
 * added them) and checks the pipeline at once, so the confirmation shows
 * it and Run works; the select then goes back to its prompt, so the same
 * preset can be picked again after edits.
 */
import { API, getJson } from './api.js';
import { byId, el } from './dom.js';
import { report, say, showError } from './messages.js';
import { checkPipeline } from './run.js';
import { setSteps } from './steps.js';

let presets = []; /* GET /presets: {id, name, description, pipeline, steps} */

/* Fills the preset select; the editor works without it if this fails. */
export async function loadPresets() {
    const select = byId('preset-select');
    try {
        presets = await getJson(`${API}/presets`);
    } catch (err) {
        presets = [];
        report(err, 'Loading the presets');
    }
    select.replaceChildren(
        el('option', { value: '', text: presets.length ? 'Choose a preset…' : 'No presets' }),
        ...presets.map((p) => el('option', { value: p.id, text: p.name, title: p.description })));
    select.disabled = presets.length === 0;
}

function pick() {
    const select = byId('preset-select');
    const preset = presets.find((p) => p.id === select.value);
    select.value = '';
    if (!preset)
        return;
    showError('');
    try {
        setSteps(preset.steps);
    } catch (err) {
        showError(`The preset ${preset.name} cannot be loaded: ${err.message}.`);
        return;
    }
    byId('preset-description').textContent = `${preset.name}: ${preset.description}`;
    say(`Loaded the preset ${preset.name}: ${preset.pipeline}`);
    checkPipeline();
}

/* Wires the preset select. */
export function setupPresets() {
    byId('preset-select').addEventListener('change', pick);
}
