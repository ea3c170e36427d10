/*
 * Images: the drop zone and file input, one POST /images per file with its
 * own confirmation or error (a failed file stays listed with its reason and
 * a Remove button; a file already stored is not stored again: a notice says
 * so and its library card is ticked instead). The library of stored images
 * (thumbnails, search, paging, delete) is library.js; entries live in
 * state.uploads.
 */
import { loadAccount } from './account.js';
import { API, ApiError, request } from './api.js';
import { updateConfirm } from './confirm.js';
import { byId, el } from './dom.js';
import { addLibraryItem, imageInfo, loadLibrary, setupLibrary, showStoredThumb } from './library.js';
import { plainError, report, say, showError } from './messages.js';
import { state } from './state.js';

/* The display name of image `id` when the page knows it, else the id. */
export function imageName(id) {
    const entry = state.uploads.find((u) => u.image && u.image.id === id);
    return entry && entry.image.name ? entry.image.name : id;
}

/* Shows that `file` was already stored as `image`: the library card of that
 * image is ticked (and moved to the top) and the new card goes away. */
function duplicateNotice(entry, image) {
    const file = entry.file;
    const known = state.uploads.find((u) => u !== entry && u.image && u.image.id === image.id);
    if (known) {
        entry.element.remove();
        if (entry.url)
            URL.revokeObjectURL(entry.url);
        state.uploads = state.uploads.filter((u) => u !== entry);
        known.use.checked = true;
        known.use.disabled = false;
        byId('upload-list').prepend(known.element);
    } else {
        entry.image = image;
        entry.element.dataset.imageId = image.id;
        entry.element.dataset.state = 'done';
        entry.info.textContent = imageInfo(image);
        entry.use.disabled = false;
    }
    const card = known ? known.element : entry.element;
    card.dataset.duplicate = 'true';
    const message = `${file.name} is already in your library` +
        (image.name && image.name !== file.name ? ` as ${image.name}` : '') +
        ': it was not stored again, and is selected for the job.';
    const notice = byId('library-notice');
    notice.textContent = message;
    notice.hidden = false;
    say(message);
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
        if (image.duplicate) {
            duplicateNotice(entry, image);
            updateConfirm();
            return;
        }
        entry.image = image;
        entry.element.dataset.imageId = image.id;
        entry.element.dataset.state = 'done';
        entry.info.textContent = imageInfo(image);
        entry.use.disabled = false;
        showStoredThumb(entry);
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
    byId('library-notice').hidden = true;
    say(`Uploading ${list.length} file${list.length > 1 ? 's' : ''}…`);
    const entries = list.map((file) => addLibraryItem(file, null));
    await Promise.all(entries.map(uploadOne));
    loadAccount();
    loadLibrary(); /* the count, and the page, now hold the new images */
    const good = entries.filter((e) => e.element.dataset.state === 'done' || e.image).length;
    say(list.length === 1
        ? (good ? byId('status-message').textContent : `${list[0].name} was not uploaded.`)
        : `${good} of ${list.length} files uploaded.`);
    const failed = entries.filter((e) => e.element.dataset.state === 'error');
    if (failed.length === 1)
        showError(failed[0].info.textContent);
    else if (failed.length)
        showError(`${failed.length} of ${list.length} files were not uploaded; the list of images says why for each.`);
}

/* Lists the images stored earlier (the library's first page). */
export function loadStoredImages() {
    return loadLibrary();
}

/* Wires the drop zone (#drop-zone) and the file input (#file-input). */
export function setupUploads() {
    setupLibrary();
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
