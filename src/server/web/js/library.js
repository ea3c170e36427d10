/*
 * The image library: a compact grid (#upload-list, a panel that scrolls on
 * its own) of the images uploaded now and stored earlier, each with its
 * server-made thumbnail (GET /images/{id}/thumbnail, fetched with the token
 * and shown through a blob: URL), its name and a checkbox. A ticked image
 * is used in the job and can be deleted with "Delete selected" (POST
 * /images/delete). Search by name and paging (GET /images?q=&limit=&offset=)
 * replace the unticked stored images; ticked ones and uploads stay on top.
 * Entries live in state.uploads.
 */
import { loadAccount } from './account.js';
import { API, getJson, request, sendJson } from './api.js';
import { updateConfirm } from './confirm.js';
import { byId, el } from './dom.js';
import { shortBytes } from './format.js';
import { report, say } from './messages.js';
import { state } from './state.js';

const PAGE = 24;       /* images per library page */
let offset = 0;        /* first image of the page shown */
let total = 0;         /* images matching the search */
let query = '';        /* the search text */
let searchTimer = null;
let loading = 0;       /* generation of the latest list request */

/* "PNG, 451×300, 234.9 KB" for the image's card. */
export function imageInfo(image) {
    const frames = image.frames > 1 ? `, ${image.frames} frames` : '';
    return `${image.format.toUpperCase()}, ${image.width}×${image.height}${frames}, ` +
        `${shortBytes(image.bytes)}`;
}

/* An <img> showing image `image`'s thumbnail once it has loaded. */
function serverThumb(image, name) {
    const img = el('img', { class: 'thumb', alt: `Thumbnail of ${name}`, testid: 'library-thumb' });
    img.dataset.loaded = 'false';
    request(`${API}/images/${encodeURIComponent(image.id)}/thumbnail`)
        .then((response) => response.blob())
        .then((blob) => {
            img.src = URL.createObjectURL(blob);
            img.dataset.loaded = 'true';
        })
        .catch(() => img.replaceWith(el('span', { class: 'thumb thumb-none', text: 'no preview' })));
    return img;
}

/* Once an upload is stored, its card shows the server's thumbnail (the
 * browser's own preview of the file, shown meanwhile, goes away). */
export function showStoredThumb(entry) {
    const old = entry.element.querySelector('.thumb');
    const name = entry.image.name || entry.image.id;
    if (old)
        old.replaceWith(serverThumb(entry.image, name));
    if (entry.url) {
        URL.revokeObjectURL(entry.url);
        entry.url = null;
    }
}

function forget(entry) {
    const img = entry.element.querySelector('img.thumb');
    if (img && img.src.startsWith('blob:'))
        URL.revokeObjectURL(img.src);
    if (entry.url)
        URL.revokeObjectURL(entry.url);
    entry.element.remove();
}

/*
 * Adds a card for `file` (a File being uploaded, checked) or for `image`
 * (stored earlier, unchecked). Returns its entry {key, file, image,
 * element, url, use, info}.
 */
export function addLibraryItem(file, image) {
    const key = state.nextUid++;
    const name = file ? file.name : (image.name || image.id);
    const url = file ? URL.createObjectURL(file) : null;
    const checkId = `use-${key}`;
    let thumb;
    if (url) {
        thumb = el('img', { class: 'thumb', src: url, alt: `Thumbnail of ${name}` });
        thumb.dataset.loaded = 'local';
        /* TIFF and PNM do not show in browsers */
        thumb.addEventListener('error', () => thumb.replaceWith(el('span', { class: 'thumb thumb-none', text: 'no preview' })), { once: true });
    } else {
        thumb = serverThumb(image, name);
    }
    const info = el('span', { class: 'upload-info', testid: 'upload-info', text: file ? 'Uploading…' : imageInfo(image) });
    const use = el('input', { type: 'checkbox', id: checkId, testid: 'upload-use', checked: !!file, disabled: !!file });
    const item = el('li', { class: 'upload-item', testid: 'upload-item', title: name }, [
        thumb,
        el('div', { class: 'upload-text' }, [
            el('span', { class: 'upload-use' }, [use, el('label', { for: checkId, class: 'upload-name', text: name, 'aria-label': `Select ${name}` })]),
            info,
        ]),
    ]);
    item.dataset.state = file ? 'uploading' : 'done';
    if (image)
        item.dataset.imageId = image.id;
    const entry = { key, file, image, element: item, url, use, info };
    use.addEventListener('change', changed);
    state.uploads.push(entry);
    if (file)
        byId('upload-list').prepend(item);
    else
        byId('upload-list').append(item);
    return entry;
}

function changed() {
    updateConfirm();
    showTools();
}

function selectable() {
    return state.uploads.filter((u) => u.image && !u.use.disabled && u.element.isConnected);
}

/* The pager text and which tools are usable. */
function showTools() {
    const chosen = selectable().filter((u) => u.use.checked).length;
    byId('library-delete').disabled = chosen === 0;
    byId('library-delete').textContent = chosen ? `Delete selected (${chosen})` : 'Delete selected';
    byId('library-prev').disabled = offset === 0;
    byId('library-next').disabled = offset + PAGE >= total;
    const last = Math.min(total, offset + PAGE);
    byId('library-page').textContent = total
        ? `${offset + 1}–${last} of ${total}${query ? ` matching “${query}”` : ''}`
        : (query ? `No images match “${query}”.` : 'No images stored yet.');
}

/* Loads the library page at `offset` for the search text; keeps uploads and
 * ticked images, replaces the other stored ones. */
export async function loadLibrary() {
    const generation = ++loading;
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (query)
        params.set('q', query);
    try {
        const body = await getJson(`${API}/images?${params}`);
        if (generation !== loading)
            return;
        total = body.total || 0;
        const keep = state.uploads.filter((u) => u.file || u.use.checked || !u.image);
        for (const entry of state.uploads)
            if (!keep.includes(entry))
                forget(entry);
        state.uploads = keep;
        const known = new Set(keep.filter((u) => u.image).map((u) => u.image.id));
        for (const image of body.images || [])
            if (!known.has(image.id))
                addLibraryItem(null, image);
        showTools();
        updateConfirm();
    } catch (err) {
        report(err, 'Listing your images');
    }
}

function setAll(checked) {
    for (const entry of selectable())
        entry.use.checked = checked;
    changed();
}

async function deleteSelected() {
    const chosen = selectable().filter((u) => u.use.checked);
    if (!chosen.length)
        return;
    const names = chosen.length === 1 ? (chosen[0].image.name || chosen[0].image.id) : `${chosen.length} images`;
    if (!window.confirm(`Delete ${names}? This cannot be undone.`))
        return;
    try {
        const result = await sendJson('POST', `${API}/images/delete`, { ids: chosen.map((u) => u.image.id) });
        const gone = new Set([...(result.deleted || []), ...(result.not_found || [])]);
        for (const entry of chosen.filter((u) => gone.has(u.image.id)))
            forget(entry);
        state.uploads = state.uploads.filter((u) => !gone.has(u.image && u.image.id));
        const busy = result.in_use || [];
        say(`Deleted ${(result.deleted || []).length} image${(result.deleted || []).length === 1 ? '' : 's'}.` +
            (busy.length ? ` ${busy.length} kept: ${busy[0].message}` : ''));
        if (offset >= total - gone.size && offset > 0)
            offset = Math.max(0, offset - PAGE);
        await loadLibrary();
        loadAccount();
    } catch (err) {
        report(err, 'Deleting images');
    }
}

function page(step) {
    offset = Math.max(0, offset + step * PAGE);
    loadLibrary();
}

/* Wires the search box, Select all/none, Delete selected and the pager. */
export function setupLibrary() {
    byId('library-search').addEventListener('input', (event) => {
        clearTimeout(searchTimer);
        searchTimer = setTimeout(() => {
            query = event.target.value.trim();
            offset = 0;
            loadLibrary();
        }, 250);
    });
    byId('library-all').addEventListener('click', () => setAll(true));
    byId('library-none').addEventListener('click', () => setAll(false));
    byId('library-delete').addEventListener('click', deleteSelected);
    byId('library-prev').addEventListener('click', () => page(-1));
    byId('library-next').addEventListener('click', () => page(1));
    showTools();
}
