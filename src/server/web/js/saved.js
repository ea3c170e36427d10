/*
 * Saved pipelines (#saved-panel, under the pipeline editor): save the
 * editor's pipeline and output settings under a name (PUT
 * /pipelines/saved/{name}, POST /pipelines/saved for a new name: every save
 * of a name adds a version), load one into the editor (its newest version
 * or any other), list a name's versions and roll back to one (POST
 * .../rollback adds a new version equal to it). A saved version pins every
 * op's version, and so does the editor once it is loaded (steps.js setSteps).
 */
import { API, ApiError, getJson, sendJson } from './api.js';
import { invalidate } from './confirm.js';
import { byId, el } from './dom.js';
import { report, say, showError } from './messages.js';
import { outputSettings } from './run.js';
import { buildPipeline, setSteps } from './steps.js';

const BASE = `${API}/pipelines/saved`;
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const known = new Set(); /* the names listed last */

function path(name, rest = '') {
    return `${BASE}/${encodeURIComponent(name)}${rest}`;
}

/* Fills #saved-select with the account's saved pipelines, keeping `select`
 * (a name) chosen when given. */
export async function loadSaved(select) {
    try {
        const body = await getJson(`${BASE}?limit=1000`);
        const list = body.pipelines || [];
        known.clear();
        list.forEach((p) => known.add(p.name));
        const chosen = select || byId('saved-select').value;
        const options = list.map((p) => el('option', {
            value: p.name, text: `${p.name} (version ${p.version})`, selected: p.name === chosen,
        }));
        if (!options.length)
            options.push(el('option', { value: '', text: 'No saved pipelines yet', disabled: true }));
        byId('saved-select').replaceChildren(...options);
        for (const id of ['saved-load', 'saved-history'])
            byId(id).disabled = !list.length;
    } catch (err) {
        report(err, 'Listing your saved pipelines');
    }
}

/* Saves the editor's pipeline and output as a new version of #saved-name. */
async function save() {
    const name = byId('saved-name').value.trim();
    if (!NAME.test(name)) {
        showError('Give the pipeline a name of letters, digits, "-" and "_" (at most 64).');
        byId('saved-name').focus();
        return;
    }
    let pipeline, output;
    try {
        pipeline = buildPipeline();
        output = outputSettings();
    } catch (err) {
        showError(`${err.message}.`);
        return;
    }
    showError('');
    try {
        /* a known name gets a new version; a new one (or one saved
         * elsewhere meanwhile: 409 exists) is created, else updated */
        let saved;
        try {
            saved = known.has(name) ? await sendJson('PUT', path(name), { pipeline, output })
                : await sendJson('POST', BASE, { name, pipeline, output });
        } catch (err) {
            if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 409))
                throw err;
            saved = err.status === 409 ? await sendJson('PUT', path(name), { pipeline, output })
                : await sendJson('POST', BASE, { name, pipeline, output });
        }
        say(`Saved ${saved.name} as version ${saved.version}: ${saved.pipeline_text}`);
        await loadSaved(saved.name);
        if (!byId('saved-versions').hidden)
            showVersions(saved.name);
    } catch (err) {
        report(err, 'Saving the pipeline');
    }
}

/* Puts version `version` of `name` (0: its newest) into the editor. */
async function load(name, version) {
    try {
        const v = await getJson(version ? path(name, `/versions/${version}`) : path(name));
        setSteps(v.pipeline);
        if (v.output.format)
            byId('output-format').value = v.output.format;
        if (v.output.quality)
            byId('output-quality').value = String(v.output.quality);
        /* no saved frame: animations keep every frame */
        byId('output-frame').value = Number.isInteger(v.output.frame) ? String(v.output.frame) : '';
        invalidate();
        byId('saved-name').value = v.name;
        say(`Loaded ${v.name} version ${v.version} into the editor: ${v.pipeline_text}`);
    } catch (err) {
        report(err, 'Loading the saved pipeline');
    }
}

async function rollback(name, version) {
    try {
        const v = await sendJson('POST', path(name, '/rollback'), { version });
        say(`Rolled ${name} back to version ${version}: it is now version ${v.version}.`);
        await loadSaved(name);
        showVersions(name);
    } catch (err) {
        report(err, 'Rolling back the saved pipeline');
    }
}

function button(testid, text, label, action) {
    const b = el('button', { type: 'button', testid, text, 'aria-label': label });
    b.addEventListener('click', action);
    return b;
}

function versionRow(name, v) {
    const when = v.saved ? new Date(v.saved).toLocaleString() : '';
    const back = v.rollback_of ? ` (rollback to version ${v.rollback_of})` : '';
    const row = el('li', { testid: 'saved-version' }, [
        el('span', { text: `Version ${v.version}${back}, saved ${when}: ` }),
        el('code', { text: v.pipeline_text }),
        button('saved-version-load', 'Load', `Load version ${v.version} of ${name}`,
            () => load(name, v.version)),
        button('saved-version-rollback', 'Roll back to this',
            `Make version ${v.version} of ${name} its newest again`, () => rollback(name, v.version)),
    ]);
    row.dataset.version = String(v.version);
    row.querySelector('[data-testid="saved-version-rollback"]').disabled = v.version === v.latest;
    return row;
}

/* Lists every version of `name` in #saved-versions. */
async function showVersions(name) {
    const list = byId('saved-versions');
    try {
        const body = await getJson(path(name, '/versions'));
        list.replaceChildren(...body.versions.map((v) => versionRow(name, v)));
        list.hidden = false;
        list.dataset.name = name;
    } catch (err) {
        report(err, 'Listing the versions');
    }
}

/* Wires Save, Load and Versions. */
export function setupSaved() {
    byId('saved-save').addEventListener('click', save);
    byId('saved-load').addEventListener('click', () => byId('saved-select').value &&
        load(byId('saved-select').value, 0));
    byId('saved-history').addEventListener('click', () => byId('saved-select').value &&
        showVersions(byId('saved-select').value));
    byId('saved-select').addEventListener('change', () => {
        byId('saved-versions').hidden = true;
    });
}
