/*
 * Images: the drop zone and file input, one POST /images per file with its
 * own confirmation or error (a failed file stays listed with its reason and
 * a Remove button), the images stored earlier (GET /images), and
 * each image's "use in the job" checkbox. Entries live in state.uploads.
 */
import { loadAccount } from './account.js';
import { API, ApiError, getJson, request } from './api.js';
import { updateConfirm } from './confirm.js';
import { byId, el } from './dom.js';
import { formatBytes } from './format.js';
import { plainError, report, say, showError } from './messages.js';
import { state } from './state.js';

function imageInfo(image) {
    const frames = image.frames > 1 ? `, ${image.frames} frames` : '';
    return `Uploaded: id ${image.id}, ${image.format.toUpperCase()}, ` +
        `${image.width}×${image.height}${frames}, ${formatBytes(image.bytes)}`;
}

/* The display name of image `id` when the page knows it, else the id. */
export function imageName(id) {
    const entry = state.uploads.find((u) => u.image && u.image.id === id);
    return entry && entry.image.name ? entry.image.name : id;
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
        entry.info.textContent = uploadProblem(err, file.name);
        entry.info.classList.add('error-text');
        entry.info.setAttribute('role', 'alert');
        entry.use.parentElement.replaceWith(removeButton(entry));
        if (err instanceof ApiError && err.status === 401)
            report(err, `Uploading ${file.name}`);
    }
    updateConfirm();
}

/* Why `name` was not stored, in the server's words without the name twice:
 * "empty.png: the file is empty (0 bytes)", "big.png is too large: ...". */
function uploadProblem(err, name) {
    if (!(err instanceof ApiError) || !err.message || err.code === 'quota_exceeded')
        return plainError(err, `Uploading ${name}`);
    const detail = err.message.startsWith(`${name}: `) ? err.message.slice(name.length + 2) : err.message;
    if (/^(?:[a-z]+: )?empty file\b/.test(detail))
        return `${name}: the file is empty (0 bytes); choose a file with an image in it.`;
    if (err.status === 413)
        return `${name} is too large: ${detail}.`;
    if (err.status === 400 || err.status === 415 || err.status === 422)
        return `${name} was not stored: ${detail}.`;
    return plainError(err, `Uploading ${name}`);
}

/* A "Remove" button that takes a failed upload off the list. */
function removeButton(entry) {
    const name = entry.file.name;
    const button = el('button', { type: 'button', class: 'upload-remove', testid: 'upload-remove', text: 'Remove', 'aria-label': `Remove ${name} from the list` });
    button.addEventListener('click', () => {
        const index = state.uploads.indexOf(entry);
        const next = entry.element.nextElementSibling || entry.element.previousElementSibling;
        if (index >= 0)
            state.uploads.splice(index, 1);
        entry.element.remove();
        if (entry.url)
            URL.revokeObjectURL(entry.url);
        say(`Removed ${name} from the list.`);
        const focus = next && next.querySelector('button, input:not([disabled])');
        (focus || byId('file-input')).focus();
        updateConfirm();
    });
    return button;
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
    const failed = entries.filter((e) => e.element.dataset.state === 'error');
    if (failed.length === 1)
        showError(failed[0].info.textContent);
    else if (failed.length)
        showError(`${failed.length} of ${list.length} files were not uploaded; the list of images says why for each.`);
}

/* Lists the images stored earlier (unticked) that the page does not show yet. */
export async function loadStoredImages() {
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

/* Wires the drop zone (#drop-zone) and the file input (#file-input). */
export function setupUploads() {
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
