/*
 * tessera web UI: vanilla JavaScript (ES2020), no framework, no external
 * resources, no inline handlers (the page is served with a CSP of
 * default-src 'self'; img-src 'self' blob:). Every API call sends the token
 * as "Authorization: Bearer"; the token lives in sessionStorage only. Data
 * from the server is put on the page with textContent, never as HTML.
 *
 * Stable hooks for browser tests (Playwright). Ids in index.html:
 *   #signin-form, #token-input, #signin-button, #signout-button, #auth-status
 *   #account-panel (GET /users/me after sign-in, an upload, a submit and a
 *     job's end; data-stored-bytes, data-quota-bytes, data-active-jobs,
 *     data-quota-jobs: the numbers shown, a quota of 0 = unlimited),
 *     #account-user, #account-storage, #account-storage-meter, #account-jobs
 *   #file-input (multiple), #drop-zone, #upload-list
 *   #op-select, #add-step-button, #op-summary, #steps-list
 *   #output-format, #output-quality
 *   #check-button, #confirm-panel, #confirm-summary, #pipeline-text, #run-button
 *   #job-panel (data-job-id, data-state: submitting while the job is
 *     being created, then the job's state), #progress (role=progressbar,
 *     aria-valuenow 0..100) with #progress-bar inside, #progress-text,
 *   #job-state, #job-errors, #cancel-button
 *   #results-section, #results, #download-button, #download-message
 *   #jobs-refresh-button, #jobs-body
 *   #workers-section, #workers-summary, #workers-table, #workers-body, #workers-empty
 *     (GET /workers every 2 s while signed in and the page is visible;
 *     hidden for accounts that are not administrators)
 *   #status-message (role=status), #error-message (role=alert)
 *   body[data-auth] is "signed-in" or "signed-out".
 * data-testid on generated elements:
 *   upload-item      li per file; data-state uploading|done|error, data-image-id
 *   upload-use       its "use in the job" checkbox
 *   upload-info      its confirmation text (id, format, size)
 *   step             li per pipeline step; data-op, data-index (0-based)
 *   param-NAME       a step's control for parameter NAME (number, checkbox,
 *                    select; for a kernel: the size select)
 *   param-NAME-slider  the 0..360 slider of an angle parameter
 *   kernel-cell      a kernel grid input; data-row, data-col
 *   step-up, step-down, step-remove   a step's buttons
 *   preview-before, preview-after     result images (img) per job item
 *   download-item    download button per job item
 *   job-row          tr per past job; data-job-id, data-state
 *   job-open, job-download            its buttons
 *   worker-row       tr per worker; data-worker-id, data-state
 *                    (running|draining|lost)
 * A token can also be handed over in the URL fragment (#token=...): it is
 * moved into sessionStorage and removed from the address bar; fragments
 * never reach the server.
 */
(() => {
    'use strict';

    const API = '/api/v1';
    const TOKEN_KEY = 'tessera.token';
    const TERMINAL = ['succeeded', 'failed', 'cancelled'];
    const PREVIEWABLE = ['png', 'jpeg', 'webp', 'bmp', 'gif'];
    const EXTENSIONS = { png: 'png', jpeg: 'jpg', webp: 'webp', tiff: 'tif', bmp: 'bmp', pnm: 'ppm' };

    /* Everything the page keeps between events. */
    const state = {
        token: null,         /* bearer token, or null when signed out */
        ops: [],             /* GET /operations */
        steps: [],           /* pipeline steps: {uid, op, element} */
        uploads: [],         /* {key, file, image, element, url} */
        nextUid: 1,          /* for unique element ids */
        revision: 0,         /* bumped on each pipeline/output edit */
        checked: null,       /* {revision, text, pipeline} from /pipelines/validate */
        job: null,           /* the job shown in the progress panel */
        follow: null,        /* AbortController of the event stream being read */
        blobUrls: [],        /* preview object URLs to revoke */
        workersTimer: null,  /* interval refreshing the workers table */
        accountSeq: 0,       /* bumped per GET /users/me; older answers are dropped */
    };

    const byId = (id) => document.getElementById(id);

    function el(tag, props = {}, children = []) {
        const node = document.createElement(tag);
        for (const [key, value] of Object.entries(props)) {
            if (value === undefined || value === null || value === false)
                continue;
            if (key === 'text')
                node.textContent = value;
            else if (key === 'testid')
                node.dataset.testid = value;
            else if (key in node && typeof value !== 'string')
                node[key] = value;
            else
                node.setAttribute(key, value === true ? '' : String(value));
        }
        for (const child of children)
            node.append(child);
        return node;
    }

    /* ---------- messages ---------- */

    function say(text) {
        byId('status-message').textContent = text;
    }

    function showError(text) {
        const box = byId('error-message');
        box.textContent = text;
        box.hidden = !text;
    }

    class ApiError extends Error {
        constructor(status, code, message, retryAfter) {
            super(message);
            this.status = status;         /* HTTP status, 0 for network failures */
            this.code = code;             /* the error body's code */
            this.retryAfter = retryAfter; /* seconds, or null */
        }
    }

    /* A sentence a person can act on, with the server's own words after it. */
    function plainError(err, what) {
        if (!(err instanceof ApiError))
            return `${what} failed: ${err.message || err}.`;
        const detail = err.message ? ` (${err.message})` : '';
        switch (err.status) {
        case 0:
            return `${what} failed: the tessera server could not be reached. Check that it is running.`;
        case 400:
            return `${what} failed: the request was not accepted${detail}.`;
        case 401:
            return 'The server did not accept your token. Sign in again with a valid token.';
        case 403:
            return `${what} failed: your account is not allowed to do this${detail}.`;
        case 404:
            return `${what} failed: it was not found; it may have been deleted${detail}.`;
        case 409:
            return `${what} failed: it is not ready yet${detail}.`;
        case 413:
            if (err.code === 'quota_exceeded')
                return `${what} failed: your account's storage quota is used up${detail}. ` +
                    'Delete images you no longer need, or ask an administrator for more.';
            return `${what} failed: it is too large${detail}.`;
        case 415:
            return `${what} failed: this is not an image format tessera can read ` +
                `(JPEG, PNG, GIF, WebP, TIFF, BMP, PNM)${detail}.`;
        case 422:
            return `${what} failed: the image could not be decoded; it may be corrupt or cut short${detail}.`;
        case 429:
        case 503: {
            const wait = err.retryAfter ? ` Try again in ${err.retryAfter} seconds.` : ' Try again shortly.';
            if (err.code === 'too_many_active_jobs')
                return `${what} failed: your account already runs as many jobs as its quota allows${detail}. ` +
                    `Wait for one to finish or cancel one.${wait}`;
            if (err.code === 'rate_limited')
                return `${what} failed: too many requests in a short time${detail}.${wait}`;
            return `${what} failed: the server is busy${detail}.${wait}`;
        }
        default:
            return `${what} failed: the server answered ${err.status}${detail}.`;
        }
    }

    function report(err, what) {
        if (err && err.name === 'AbortError')
            return;
        showError(plainError(err, what));
        if (err instanceof ApiError && err.status === 401)
            signOut(false);
    }

    /* ---------- API ---------- */

    /* fetch() with the token; resolves to the Response when ok, else throws ApiError. */
    async function request(path, options = {}) {
        const headers = new Headers(options.headers || {});
        if (state.token)
            headers.set('Authorization', `Bearer ${state.token}`);
        let response;
        try {
            response = await fetch(path, { ...options, headers, cache: 'no-store' });
        } catch (err) {
            if (err.name === 'AbortError')
                throw err;
            throw new ApiError(0, 'network', '', null);
        }
        if (response.ok || response.status === 304)
            return response;
        let code = 'http', message = '';
        try {
            const body = await response.json();
            if (body && body.error) {
                code = body.error.code || code;
                message = body.error.message || '';
            }
        } catch (ignored) {
            message = response.statusText;
        }
        const retry = parseInt(response.headers.get('Retry-After') || '', 10);
        throw new ApiError(response.status, code, message, Number.isFinite(retry) ? retry : null);
    }

    async function getJson(path) {
        return (await request(path)).json();
    }

    async function sendJson(method, path, body) {
        const options = { method };
        if (body !== undefined) {
            options.headers = { 'Content-Type': 'application/json' };
            options.body = JSON.stringify(body);
        }
        const response = await request(path, options);
        return response.status === 204 ? null : response.json();
    }

    /* The file name from Content-Disposition, or `fallback`. */
    function dispositionName(response, fallback) {
        const header = response.headers.get('Content-Disposition') || '';
        const star = header.match(/filename\*\s*=\s*UTF-8''([^;]+)/i);
        if (star) {
            try {
                return decodeURIComponent(star[1].trim());
            } catch (ignored) { /* fall through to the plain name */ }
        }
        const plain = header.match(/filename\s*=\s*"?([^";]+)"?/i);
        return plain ? plain[1].trim() : fallback;
    }

    /* ---------- sign in ---------- */

    async function signIn(token) {
        state.token = token;
        say('Signing in…');
        try {
            state.ops = await getJson(`${API}/operations`);
        } catch (err) {
            state.token = null;
            say('');
            if (err instanceof ApiError && err.status === 401)
                showError('That token was not accepted. Check it and try again.');
            else
                report(err, 'Signing in');
            return;
        }
        sessionStorage.setItem(TOKEN_KEY, token);
        showError('');
        document.body.dataset.auth = 'signed-in';
        byId('signin-form').hidden = true;
        byId('signout-button').hidden = false;
        byId('signed-out-note').hidden = true;
        byId('app-main').hidden = false;
        byId('auth-status').textContent = 'Signed in.';
        fillOperations();
        say(`Signed in. ${state.ops.length} operations available.`);
        loadStoredImages();
        loadJobs();
        loadAccount();
        startWorkers();
    }

    function signOut(clearMessages = true) {
        stopFollowing();
        stopWorkers();
        state.token = null;
        sessionStorage.removeItem(TOKEN_KEY);
        document.body.dataset.auth = 'signed-out';
        byId('signin-form').hidden = false;
        byId('signout-button').hidden = true;
        byId('signed-out-note').hidden = false;
        byId('app-main').hidden = true;
        byId('account-panel').hidden = true;
        state.accountSeq++;
        byId('auth-status').textContent = 'Not signed in.';
        byId('token-input').value = '';
        if (clearMessages) {
            showError('');
            say('Signed out.');
        }
        byId('token-input').focus();
    }

    /* ---------- uploads ---------- */

    /* "12.3 MB", "10 GB", "512 bytes" (units of 1024). */
    function shortBytes(n) {
        if (n < 1024)
            return `${n} bytes`;
        const units = ['KB', 'MB', 'GB', 'TB'];
        let value = n / 1024, unit = 0;
        while (value >= 1024 && unit < units.length - 1) {
            value /= 1024;
            unit++;
        }
        return `${value.toFixed(1).replace(/\.0$/, '')} ${units[unit]}`;
    }

    function formatBytes(n) {
        return n < 1024 ? `${n} bytes` : `${shortBytes(n)} (${n.toLocaleString('en')} bytes)`;
    }

    function imageInfo(image) {
        const frames = image.frames > 1 ? `, ${image.frames} frames` : '';
        return `Uploaded: id ${image.id}, ${image.format.toUpperCase()}, ` +
            `${image.width}×${image.height}${frames}, ${formatBytes(image.bytes)}`;
    }

    /* Adds a list entry for `file` (a File, or null for an image stored earlier). */
    function addUploadItem(file, image) {
        const key = state.nextUid++;
        const name = file ? file.name : (image.name || image.id);
        const url = file ? URL.createObjectURL(file) : null;
        const checkId = `use-${key}`;
        const thumb = url
            ? el('img', { class: 'thumb', src: url, alt: `Thumbnail of ${name}` })
            : el('span', { class: 'thumb thumb-none', text: 'stored' });
        if (url) /* TIFF and PNM do not show in browsers */
            thumb.addEventListener('error', () => thumb.replaceWith(el('span', { class: 'thumb thumb-none', text: 'no preview' })), { once: true });
        const info = el('span', { class: 'upload-info', testid: 'upload-info', text: file ? 'Uploading…' : imageInfo(image) });
        const use = el('input', { type: 'checkbox', id: checkId, testid: 'upload-use', checked: !!file, disabled: !!file });
        const item = el('li', { class: 'upload-item', testid: 'upload-item' }, [
            thumb,
            el('div', { class: 'upload-text' }, [
                el('span', { class: 'upload-name', text: name }),
                info,
                el('span', { class: 'upload-use' }, [use, el('label', { for: checkId, text: `Use ${name} in the job` })]),
            ]),
        ]);
        item.dataset.state = file ? 'uploading' : 'done';
        if (image)
            item.dataset.imageId = image.id;
        const entry = { key, file, image, element: item, url, use, info };
        use.addEventListener('change', updateConfirm);
        state.uploads.push(entry);
        if (file)
            byId('upload-list').prepend(item);
        else
            byId('upload-list').append(item);
        return entry;
    }

    async function uploadOne(entry) {
        const file = entry.file;
        try {
            const response = await request(`${API}/images?name=${encodeURIComponent(file.name)}`, {
                method: 'POST',
                headers: { 'Content-Type': file.type || 'application/octet-stream' },
                body: file,
            });
            const body = await response.json();
            const image = body.images ? body.images[0] : body;
            entry.image = image;
            entry.element.dataset.imageId = image.id;
            entry.element.dataset.state = 'done';
            entry.info.textContent = imageInfo(image);
            entry.use.disabled = false;
            say(`${file.name} uploaded: ${image.format.toUpperCase()}, ${image.width}×${image.height}.`);
        } catch (err) {
            entry.element.dataset.state = 'error';
            entry.use.checked = false;
            const message = plainError(err, `Uploading ${file.name}`);
            entry.info.textContent = message;
            entry.info.classList.add('error-text');
            report(err, `Uploading ${file.name}`);
        }
        updateConfirm();
    }

    async function uploadFiles(files) {
        const list = Array.from(files);
        if (!list.length)
            return;
        showError('');
        say(`Uploading ${list.length} file${list.length > 1 ? 's' : ''}…`);
        const entries = list.map((file) => addUploadItem(file, null));
        await Promise.all(entries.map(uploadOne));
        loadAccount();
        const good = entries.filter((e) => e.element.dataset.state === 'done').length;
        say(list.length === 1
            ? (good ? byId('status-message').textContent : `${list[0].name} was not uploaded.`)
            : `${good} of ${list.length} files uploaded.`);
    }

    async function loadStoredImages() {
        try {
            const body = await getJson(`${API}/images?limit=20`);
            const known = new Set(state.uploads.filter((u) => u.image).map((u) => u.image.id));
            for (const image of body.images || [])
                if (!known.has(image.id))
                    addUploadItem(null, image);
        } catch (err) {
            report(err, 'Listing your images');
        }
    }

    function selectedImages() {
        return state.uploads.filter((u) => u.image && u.use.checked && !u.use.disabled);
    }

    function setupDropZone() {
        const zone = byId('drop-zone');
        zone.addEventListener('dragover', (event) => {
            event.preventDefault();
            zone.classList.add('dragging');
        });
        zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
        zone.addEventListener('drop', (event) => {
            event.preventDefault();
            zone.classList.remove('dragging');
            if (event.dataTransfer && event.dataTransfer.files)
                uploadFiles(event.dataTransfer.files);
        });
        byId('file-input').addEventListener('change', (event) => {
            uploadFiles(event.target.files);
            event.target.value = '';
        });
    }

    /* ---------- operation picker and steps ---------- */

    function fillOperations() {
        const select = byId('op-select');
        select.replaceChildren(...state.ops.map((op) => el('option', { value: op.name, text: op.name })));
        showOpSummary();
    }

    function findOp(name) {
        return state.ops.find((op) => op.name === name);
    }

    function showOpSummary() {
        const op = findOp(byId('op-select').value);
        byId('op-summary').textContent = op ? `${op.name}: ${op.summary}` : '';
    }

    function rangeText(param) {
        if (param.type === 'enum')
            return param.choices.join(', ');
        if (param.type === 'bool')
            return 'on or off';
        if (param.type === 'kernel')
            return `square, side 1 to 9, values ${param.min} to ${param.max}`;
        return `${param.min} to ${param.max}`;
    }

    function numberInput(id, param, testid) {
        const input = el('input', {
            id, type: 'number', testid,
            min: param.min, max: param.max,
            step: param.type === 'int' ? '1' : 'any',
            inputmode: param.type === 'int' ? 'numeric' : 'decimal',
        });
        if (param.default !== undefined)
            input.value = String(param.default);
        else
            input.placeholder = 'not set';
        return input;
    }

    /* An angle: a number field plus a 0..360 slider kept in step with it. */
    function angleControl(id, param) {
        const number = numberInput(id, param, `param-${param.name}`);
        const slider = el('input', {
            id: `${id}-slider`, type: 'range', testid: `param-${param.name}-slider`,
            min: Math.max(0, param.min), max: Math.min(360, param.max), step: '1',
            'aria-label': `${param.name} slider, degrees`,
        });
        slider.value = number.value || '0';
        slider.addEventListener('input', () => {
            number.value = slider.value;
            invalidate();
        });
        number.addEventListener('input', () => {
            if (number.value !== '')
                slider.value = number.value;
        });
        return [number, slider];
    }

    /* Kernel editor: a size select and a size x size grid of number inputs. */
    function kernelControl(id, param, stepLabel) {
        const size = el('select', { id, testid: `param-${param.name}` },
            [1, 3, 5, 7, 9].map((n) => el('option', { value: String(n), text: `${n}×${n}`, selected: n === 3 })));
        const grid = el('div', { class: 'kernel-grid', role: 'group', 'aria-label': `${stepLabel} kernel values` });
        const build = (n, previous) => {
            const old = previous ? previous.n : 0;
            const cells = [];
            for (let r = 0; r < n; r++) {
                for (let c = 0; c < n; c++) {
                    const o = (old - n) / 2;
                    let value = r === (n - 1) / 2 && c === (n - 1) / 2 ? 1 : 0;
                    if (previous && r + o >= 0 && r + o < old && c + o >= 0 && c + o < old)
                        value = previous.values[(r + o) * old + (c + o)];
                    cells.push(el('input', {
                        type: 'number', step: 'any', class: 'kernel-cell', testid: 'kernel-cell',
                        min: param.min, max: param.max, value: String(value),
                        'data-row': r, 'data-col': c,
                        'aria-label': `Kernel row ${r + 1}, column ${c + 1}`,
                    }));
                }
            }
            grid.dataset.size = String(n);
            grid.replaceChildren(...cells);
        };
        const current = () => ({
            n: parseInt(grid.dataset.size, 10),
            values: Array.from(grid.querySelectorAll('input')).map((i) => i.value),
        });
        build(3, null);
        size.addEventListener('change', () => build(parseInt(size.value, 10), current()));
        return [size, grid];
    }

    function paramControl(step, param, stepLabel) {
        const id = `step-${step.uid}-${param.name}`;
        const label = el('label', { for: id, text: param.name });
        const hint = el('span', { class: 'hint', id: `${id}-hint`, text: `${param.doc} (${rangeText(param)})` });
        let controls;
        if (param.type === 'bool') {
            controls = [el('input', { id, type: 'checkbox', testid: `param-${param.name}`, checked: param.default === true })];
        } else if (param.type === 'enum') {
            controls = [el('select', { id, testid: `param-${param.name}` },
                param.choices.map((choice) => el('option', { value: choice, text: choice, selected: choice === param.default })))];
        } else if (param.type === 'kernel') {
            controls = kernelControl(id, param, stepLabel);
            label.textContent = `${param.name} size`;
        } else if (param.name === 'angle') {
            controls = angleControl(id, param);
        } else {
            controls = [numberInput(id, param, `param-${param.name}`)];
        }
        controls[0].setAttribute('aria-describedby', hint.id);
        const wrap = el('div', { class: `param param-${param.type}` }, [label, ...controls, hint]);
        wrap.dataset.param = param.name;
        return wrap;
    }

    function addStep(name) {
        const op = findOp(name);
        if (!op)
            return;
        const step = { uid: state.nextUid++, op, element: null };
        const legend = el('legend', {});
        const params = op.params.map((param) => paramControl(step, param, op.name));
        const buttons = el('div', { class: 'step-buttons' }, [
            el('button', { type: 'button', class: 'step-up', testid: 'step-up', text: '↑ Up' }),
            el('button', { type: 'button', class: 'step-down', testid: 'step-down', text: '↓ Down' }),
            el('button', { type: 'button', class: 'step-remove', testid: 'step-remove', text: 'Remove' }),
        ]);
        const body = params.length ? params : [el('p', { class: 'hint', text: 'No parameters.' })];
        step.element = el('li', { class: 'step', testid: 'step' }, [
            el('fieldset', {}, [legend, el('p', { class: 'hint', text: op.summary }), ...body, buttons]),
        ]);
        step.element.dataset.op = op.name;
        state.steps.push(step);
        byId('steps-list').append(step.element);
        renumberSteps();
        invalidate();
        say(`Added step ${state.steps.length}: ${op.name}.`);
    }

    function renumberSteps() {
        state.steps.forEach((step, i) => {
            const label = `Step ${i + 1}: ${step.op.name}`;
            step.element.dataset.index = String(i);
            step.element.querySelector('legend').textContent = label;
            const [up, down, remove] = step.element.querySelectorAll('.step-buttons button');
            up.setAttribute('aria-label', `Move step ${i + 1} (${step.op.name}) up`);
            down.setAttribute('aria-label', `Move step ${i + 1} (${step.op.name}) down`);
            remove.setAttribute('aria-label', `Remove step ${i + 1} (${step.op.name})`);
            up.disabled = i === 0;
            down.disabled = i === state.steps.length - 1;
        });
        byId('steps-empty').hidden = state.steps.length > 0;
        byId('steps-list').replaceChildren(...state.steps.map((s) => s.element));
    }

    function onStepButton(event) {
        const button = event.target.closest('button');
        if (!button)
            return;
        const item = button.closest('li.step');
        const index = state.steps.findIndex((s) => s.element === item);
        if (index < 0)
            return;
        const step = state.steps[index];
        let target = index;
        if (button.classList.contains('step-up') && index > 0)
            target = index - 1;
        else if (button.classList.contains('step-down') && index < state.steps.length - 1)
            target = index + 1;
        if (button.classList.contains('step-remove')) {
            state.steps.splice(index, 1);
            renumberSteps();
            invalidate();
            say(`Removed ${step.op.name}.`);
            const next = state.steps[Math.min(index, state.steps.length - 1)];
            (next ? next.element.querySelector('.step-remove') : byId('add-step-button')).focus();
            return;
        }
        if (target === index)
            return;
        state.steps.splice(index, 1);
        state.steps.splice(target, 0, step);
        renumberSteps();
        invalidate();
        say(`Moved ${step.op.name} to position ${target + 1}.`);
        const again = step.element.querySelector(button.classList.contains('step-up') ? '.step-up' : '.step-down');
        (again.disabled ? step.element.querySelector('.step-remove') : again).focus();
    }

    /* The JSON form of the steps; throws Error naming the step and parameter when a field is invalid. */
    function buildPipeline() {
        if (!state.steps.length)
            throw new Error('Add at least one operation first');
        return state.steps.map((step, i) => {
            const json = { op: step.op.name };
            for (const param of step.op.params) {
                const where = `Step ${i + 1} (${step.op.name}): ${param.name}`;
                const id = `step-${step.uid}-${param.name}`;
                const control = byId(id);
                if (param.type === 'bool') {
                    json[param.name] = control.checked;
                } else if (param.type === 'enum') {
                    json[param.name] = control.value;
                } else if (param.type === 'kernel') {
                    const cells = Array.from(step.element.querySelectorAll(`[data-param="${param.name}"] .kernel-cell`));
                    if (cells.some((c) => c.value === '' || !c.checkValidity()))
                        throw new Error(`${where}: every kernel value must be a number from ${param.min} to ${param.max}`);
                    json[param.name] = cells.map((c) => Number(c.value));
                } else if (control.value !== '') {
                    if (!control.checkValidity())
                        throw new Error(`${where} must be ${param.type === 'int' ? 'a whole number' : 'a number'} ` +
                            `from ${param.min} to ${param.max}`);
                    json[param.name] = Number(control.value);
                } else if (control.validity.badInput) {
                    throw new Error(`${where} is not a number`);
                }
            }
            return json;
        });
    }

    function outputSettings() {
        const quality = byId('output-quality');
        if (!quality.checkValidity())
            throw new Error('Quality must be a whole number from 1 to 100');
        return { format: byId('output-format').value, quality: Number(quality.value) };
    }

    /* Any edit to the pipeline, the output or the chosen images needs a new check. */
    function invalidate() {
        state.revision++;
        if (state.checked) {
            state.checked = null;
            byId('confirm-panel').hidden = true;
        }
        byId('run-button').disabled = true;
    }

    /* Refreshes the confirmation text and the Run button for the chosen images. */
    function updateConfirm() {
        const checked = state.checked;
        const images = selectedImages();
        if (!checked || checked.revision !== state.revision) {
            byId('run-button').disabled = true;
            return;
        }
        const output = checked.output;
        const quality = ['jpeg', 'webp'].includes(output.format) ? ` quality ${output.quality}` : '';
        byId('confirm-summary').textContent = images.length
            ? `This pipeline will run on ${images.length} image${images.length > 1 ? 's' : ''}, ` +
              `output ${output.format.toUpperCase()}${quality}:`
            : 'The pipeline is valid. Upload or choose at least one image to run it:';
        byId('run-button').disabled = images.length === 0;
    }

    async function checkPipeline() {
        showError('');
        let pipeline, output;
        try {
            pipeline = buildPipeline();
            output = outputSettings();
        } catch (err) {
            showError(`${err.message}.`);
            return;
        }
        const revision = state.revision;
        say('Checking the pipeline…');
        try {
            const result = await sendJson('POST', `${API}/pipelines/validate`, { pipeline });
            if (revision !== state.revision)
                return;
            state.checked = { revision, text: result.text, pipeline: result.pipeline, output };
            byId('pipeline-text').textContent = result.text;
            byId('confirm-panel').hidden = false;
            updateConfirm();
            say(`Pipeline checked: ${result.text}`);
        } catch (err) {
            say('');
            if (err instanceof ApiError && err.status === 400)
                showError(`The pipeline is not valid: ${err.message || 'the server rejected it'}.`);
            else
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
            report(err, 'Starting the job');
        }
    }

    /* ---------- progress ---------- */

    function formatEta(seconds) {
        if (seconds === null || seconds === undefined || !Number.isFinite(seconds))
            return 'estimating time left…';
        const s = Math.max(0, Math.round(seconds));
        if (s < 60)
            return `about ${s} s left`;
        if (s < 3600)
            return `about ${Math.floor(s / 60)} min ${s % 60} s left`;
        return `about ${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min left`;
    }

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

    function duration(job) {
        if (!job.started || !job.finished)
            return 'a moment';
        const s = (Date.parse(job.finished) - Date.parse(job.started)) / 1000;
        return Number.isFinite(s) ? `${s.toFixed(1)} s` : 'a moment';
    }

    function showJob(job) {
        state.job = job;
        const panel = byId('job-panel');
        panel.hidden = false;
        panel.dataset.jobId = job.id;
        panel.dataset.state = job.state;
        byId('job-state').textContent = `Job ${job.id}: ${job.state} — ${job.pipeline_text}`;
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
        updateJobRow(job);
    }

    function imageName(id) {
        const entry = state.uploads.find((u) => u.image && u.image.id === id);
        return entry && entry.image.name ? entry.image.name : id;
    }

    function stopFollowing() {
        if (state.follow) {
            state.follow.abort();
            state.follow = null;
        }
    }

    /* Empties the progress panel while a new job is being created. */
    function resetJobPanel() {
        stopFollowing();
        clearResults();
        state.job = null;
        const panel = byId('job-panel');
        panel.hidden = false;
        panel.dataset.state = 'submitting';
        delete panel.dataset.jobId;
        byId('job-state').textContent = 'Starting the job…';
        byId('job-errors').replaceChildren();
        byId('cancel-button').hidden = true;
        showProgress({ state: 'submitting', percent: 0 });
    }

    /* Shows `job` and follows it until it ends. */
    function openJob(job) {
        stopFollowing();
        clearResults();
        showJob(job);
        byId('job-panel').scrollIntoView({ block: 'nearest' });
        if (TERMINAL.includes(job.state)) {
            finishJob(job);
            return;
        }
        const controller = new AbortController();
        state.follow = controller;
        followEvents(job.id, controller.signal).then((finished) => {
            if (!finished && !controller.signal.aborted)
                return pollJob(job.id, controller.signal);
            return undefined;
        }).catch((err) => report(err, 'Following the job'));
    }

    /*
     * Reads GET /jobs/{id}/events with fetch() (EventSource cannot send the
     * Authorization header) and parses the SSE frames. Resolves true when a
     * "done" event arrived, false when the stream ended or broke before.
     */
    async function followEvents(id, signal) {
        let response;
        try {
            response = await request(`${API}/jobs/${encodeURIComponent(id)}/events`, {
                headers: { Accept: 'text/event-stream' }, signal,
            });
        } catch (err) {
            if (err.name === 'AbortError' || (err instanceof ApiError && err.status === 401))
                throw err;
            return false;
        }
        if (!response.body)
            return false;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '', event = 'message', data = [];
        try {
            for (;;) {
                const { value, done } = await reader.read();
                if (done)
                    return false;
                buffer += decoder.decode(value, { stream: true });
                let cut;
                while ((cut = lineEnd(buffer)) >= 0) {
                    const line = buffer.slice(0, cut);
                    buffer = buffer.slice(buffer[cut] === '\r' && buffer[cut + 1] === '\n' ? cut + 2 : cut + 1);
                    if (line === '') {
                        if (data.length && dispatch(event, data.join('\n')))
                            return true;
                        event = 'message';
                        data = [];
                    } else if (!line.startsWith(':')) {
                        const colon = line.indexOf(':');
                        const field = colon < 0 ? line : line.slice(0, colon);
                        let value = colon < 0 ? '' : line.slice(colon + 1);
                        if (value.startsWith(' '))
                            value = value.slice(1);
                        if (field === 'event')
                            event = value;
                        else if (field === 'data')
                            data.push(value);
                    }
                }
            }
        } catch (err) {
            if (err.name === 'AbortError')
                throw err;
            return false;
        } finally {
            reader.cancel().catch(() => undefined);
        }
    }

    /* Index of the first line end in `text`, or -1 (a lone trailing CR waits for more). */
    function lineEnd(text) {
        for (let i = 0; i < text.length; i++) {
            if (text[i] === '\n')
                return i;
            if (text[i] === '\r')
                return i + 1 < text.length ? i : -1;
        }
        return -1;
    }

    /* Handles one SSE event; true when the job has ended. */
    function dispatch(event, data) {
        let job;
        try {
            job = JSON.parse(data);
        } catch (ignored) {
            return false;
        }
        if (!job || !job.id || (state.job && job.id !== state.job.id))
            return false;
        showJob(job);
        if (event === 'done' || TERMINAL.includes(job.state)) {
            finishJob(job);
            return true;
        }
        return false;
    }

    /* Fallback when the event stream is unavailable: GET the job once a second. */
    async function pollJob(id, signal) {
        while (!signal.aborted) {
            const job = await getJson(`${API}/jobs/${encodeURIComponent(id)}`);
            if (signal.aborted)
                return;
            showJob(job);
            if (TERMINAL.includes(job.state)) {
                finishJob(job);
                return;
            }
            await new Promise((resolve) => setTimeout(resolve, 1000));
        }
    }

    function finishJob(job) {
        if (state.follow && state.job && state.job.id === job.id)
            state.follow = null;
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
        const job = state.job;
        if (!job)
            return;
        try {
            say(`Cancelling job ${job.id}…`);
            const updated = await sendJson('DELETE', `${API}/jobs/${encodeURIComponent(job.id)}`);
            if (updated && state.job && updated.id === state.job.id) {
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

    /* ---------- results, previews and downloads ---------- */

    function clearResults() {
        for (const url of state.blobUrls)
            URL.revokeObjectURL(url);
        state.blobUrls = [];
        byId('results').replaceChildren();
        byId('results-section').hidden = true;
        byId('download-message').textContent = '';
    }

    async function blobUrl(path) {
        const blob = await (await request(path)).blob();
        const url = URL.createObjectURL(blob);
        state.blobUrls.push(url);
        return url;
    }

    async function fillPreview(figure, path, alt, testid, previewable) {
        if (!previewable) {
            figure.prepend(el('p', { class: 'hint', text: 'No preview: browsers do not show this format. Download it instead.' }));
            return;
        }
        try {
            const url = await blobUrl(path);
            figure.prepend(el('img', { src: url, alt, testid, class: 'preview' }));
        } catch (err) {
            figure.prepend(el('p', { class: 'error-text', text: plainError(err, 'Loading the preview') }));
        }
    }

    function showResults(job) {
        const items = (job.items || []).filter((item) => item.state === 'succeeded');
        if (!items.length)
            return;
        const section = byId('results-section');
        section.hidden = false;
        byId('download-button').hidden = job.state !== 'succeeded';
        byId('download-button').textContent = job.items.length > 1 ? 'Download all results (zip)' : 'Download result';
        const out = job.output.format;
        const jobPath = `${API}/jobs/${encodeURIComponent(job.id)}`;
        for (const item of items) {
            const name = imageName(item.image);
            const source = state.uploads.find((u) => u.image && u.image.id === item.image);
            const sourceFormat = source ? source.image.format : 'png';
            const before = el('figure', {}, [el('figcaption', { text: `Before: ${name}` })]);
            const after = el('figure', {}, [el('figcaption', {
                text: `After: ${item.width}×${item.height}, ${out.toUpperCase()}, ${formatBytes(item.bytes)}`,
            })]);
            const download = el('button', { type: 'button', testid: 'download-item', text: `Download ${name} result` });
            download.dataset.image = item.image;
            download.addEventListener('click', () =>
                saveDownload(`${jobPath}/result/${encodeURIComponent(item.image)}`, `${stem(name)}.${EXTENSIONS[out]}`));
            const pair = el('div', { class: 'result-pair' }, [before, after, download]);
            pair.dataset.image = item.image;
            byId('results').append(pair);
            fillPreview(before, `${API}/images/${encodeURIComponent(item.image)}/content`,
                `${name} before processing`, 'preview-before', PREVIEWABLE.includes(sourceFormat));
            fillPreview(after, `${jobPath}/result/${encodeURIComponent(item.image)}`,
                `${name} after processing`, 'preview-after', PREVIEWABLE.includes(out));
        }
    }

    function stem(name) {
        const dot = name.lastIndexOf('.');
        return dot > 0 ? name.slice(0, dot) : name;
    }

    /* Fetches `path` with the token and saves it through a[download]; confirms with name and size. */
    async function saveDownload(path, fallbackName) {
        const message = byId('download-message');
        message.textContent = 'Downloading…';
        try {
            const response = await request(path);
            const name = dispositionName(response, fallbackName);
            const blob = await response.blob();
            const url = URL.createObjectURL(blob);
            const link = el('a', { href: url, download: name, class: 'visually-hidden', text: name });
            document.body.append(link);
            link.click();
            link.remove();
            setTimeout(() => URL.revokeObjectURL(url), 60000);
            message.textContent = `Downloaded ${name} (${blob.size.toLocaleString('en')} bytes).`;
            message.dataset.bytes = String(blob.size);
            message.dataset.name = name;
        } catch (err) {
            message.textContent = '';
            report(err, 'Downloading the result');
        }
    }

    function downloadJob(job) {
        const single = job.items && job.items.length === 1;
        const fallback = single
            ? `${stem(imageName(job.items[0].image))}.${EXTENSIONS[job.output.format]}`
            : `job-${job.id}.zip`;
        return saveDownload(`${API}/jobs/${encodeURIComponent(job.id)}/result`, fallback);
    }

    /* ---------- past jobs ---------- */

    function jobRow(job) {
        const created = job.created ? new Date(job.created).toLocaleString() : '';
        const percent = job.state === 'succeeded' ? 100 : Math.floor(Number(job.percent) || 0);
        const open = el('button', { type: 'button', testid: 'job-open', text: 'Show', 'aria-label': `Show job ${job.id}` });
        open.addEventListener('click', async () => {
            try {
                openJob(await getJson(`${API}/jobs/${encodeURIComponent(job.id)}`));
            } catch (err) {
                report(err, 'Opening the job');
            }
        });
        const actions = [open];
        if (job.state === 'succeeded') {
            const download = el('button', { type: 'button', testid: 'job-download', text: 'Download', 'aria-label': `Download the result of job ${job.id}` });
            download.addEventListener('click', () => downloadJob(job));
            actions.push(download);
        }
        const row = el('tr', { testid: 'job-row' }, [
            el('td', { text: created }),
            el('td', { class: `state state-${job.state}`, text: job.state }),
            el('td', { text: `${percent}%` }),
            el('td', { text: String((job.items || []).length) }),
            el('td', {}, [el('code', { text: job.pipeline_text })]),
            el('td', { class: 'actions' }, actions),
        ]);
        row.dataset.jobId = job.id;
        row.dataset.state = job.state;
        return row;
    }

    function updateJobRow(job) {
        const old = Array.from(byId('jobs-body').rows).find((r) => r.dataset.jobId === job.id);
        if (old)
            old.replaceWith(jobRow(job));
    }

    async function loadJobs() {
        try {
            const body = await getJson(`${API}/jobs?limit=50`);
            const jobs = body.jobs || [];
            byId('jobs-body').replaceChildren(...jobs.map(jobRow));
            byId('jobs-empty').hidden = jobs.length > 0;
        } catch (err) {
            report(err, 'Listing your jobs');
        }
    }

    /* ---------- account ---------- */

    /* "Storage: 12.3 MB of 10 GB" and the meter; a quota of 0 is unlimited. */
    function showAccount(user) {
        const panel = byId('account-panel');
        const stored = Math.max(0, Number(user.stored_bytes) || 0);
        const quotaBytes = Math.max(0, Number(user.quota_bytes) || 0);
        const active = Math.max(0, Number(user.active_jobs) || 0);
        const quotaJobs = Math.max(0, Number(user.quota_jobs) || 0);
        byId('account-user').textContent = `${user.name} (${user.role})`;
        byId('account-storage').textContent = quotaBytes
            ? `Storage: ${shortBytes(stored)} of ${shortBytes(quotaBytes)}`
            : `Storage: ${shortBytes(stored)} of unlimited`;
        const meter = byId('account-storage-meter');
        meter.hidden = !quotaBytes;
        meter.value = quotaBytes ? Math.min(1, stored / quotaBytes) : 0;
        byId('account-jobs').textContent = quotaJobs
            ? `Active jobs: ${active} of ${quotaJobs}`
            : `Active jobs: ${active} of unlimited`;
        panel.dataset.storedBytes = String(stored);
        panel.dataset.quotaBytes = String(quotaBytes);
        panel.dataset.activeJobs = String(active);
        panel.dataset.quotaJobs = String(quotaJobs);
        panel.hidden = false;
    }

    async function loadAccount() {
        const seq = ++state.accountSeq;
        try {
            const user = await getJson(`${API}/users/me`);
            if (seq === state.accountSeq && state.token)
                showAccount(user);
        } catch (err) {
            if (seq !== state.accountSeq)
                return;
            if (err instanceof ApiError && err.status === 401)
                report(err, 'Reading your account');
            else if (err.name !== 'AbortError') { /* not an alert: the panel says it */
                byId('account-storage').textContent = plainError(err, 'Reading your account');
                byId('account-storage-meter').hidden = true;
                byId('account-panel').hidden = false;
            }
        }
    }

    /* ---------- workers ---------- */

    const WORKERS_REFRESH_MS = 2000;

    /* "3 s ago" from seconds. */
    function ago(seconds) {
        if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds)))
            return 'never';
        const s = Math.max(0, Math.round(Number(seconds)));
        return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
    }

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
        if (body.mode !== 'redis')
            return 'Local mode: tiles are computed by this server\'s own threads.';
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

    function startWorkers() {
        stopWorkers();
        byId('workers-section').hidden = false;
        loadWorkers();
        state.workersTimer = setInterval(() => {
            if (!document.hidden)
                loadWorkers();
        }, WORKERS_REFRESH_MS);
    }

    function stopWorkers() {
        if (state.workersTimer !== null)
            clearInterval(state.workersTimer);
        state.workersTimer = null;
    }

    /* ---------- start ---------- */

    function start() {
        byId('signin-form').addEventListener('submit', (event) => {
            event.preventDefault();
            const token = byId('token-input').value.trim();
            if (token)
                signIn(token);
            else
                showError('Enter your access token first.');
        });
        byId('signout-button').addEventListener('click', () => signOut(true));
        byId('op-select').addEventListener('change', showOpSummary);
        byId('add-step-button').addEventListener('click', () => addStep(byId('op-select').value));
        byId('steps-list').addEventListener('click', onStepButton);
        byId('steps-list').addEventListener('input', invalidate);
        byId('steps-list').addEventListener('change', invalidate);
        byId('output-format').addEventListener('change', invalidate);
        byId('output-quality').addEventListener('input', invalidate);
        byId('check-button').addEventListener('click', checkPipeline);
        byId('run-button').addEventListener('click', runJob);
        byId('cancel-button').addEventListener('click', cancelJob);
        byId('download-button').addEventListener('click', () => state.job && downloadJob(state.job));
        byId('jobs-refresh-button').addEventListener('click', loadJobs);
        setupDropZone();

        let token = sessionStorage.getItem(TOKEN_KEY);
        if (location.hash.startsWith('#token=')) {
            token = decodeURIComponent(location.hash.slice('#token='.length));
            history.replaceState(null, '', location.pathname + location.search);
        }
        if (token)
            signIn(token);
        else
            byId('token-input').focus();
    }

    if (document.readyState === 'loading')
        document.addEventListener('DOMContentLoaded', start);
    else
        start();
})();
