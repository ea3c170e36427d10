/*
 * A job's results (#results-section): before / after previews of each
 * image as blob: URLs from authenticated fetches (an animated GIF or WebP
 * plays in its <img>, its caption says how many frames; a Deep Zoom result in the
 * zoomable viewer of zoom.js), per-image downloads and the job's download
 * (one file, or a zip), confirmed in #download-message.
 */
import { API, dispositionName, request } from './api.js';
import { byId, el } from './dom.js';
import { formatBytes, stem } from './format.js';
import { plainError, report } from './messages.js';
import { state } from './state.js';
import { imageName } from './uploads.js';
import { zoomViewer } from './zoom.js';

const PREVIEWABLE = ['png', 'jpeg', 'webp', 'bmp', 'gif', 'avif'];
const EXTENSIONS = {
    png: 'png', jpeg: 'jpg', webp: 'webp', gif: 'gif', tiff: 'tif', bmp: 'bmp', pnm: 'ppm',
    avif: 'avif', heif: 'heic', dzi: 'zip', 'dzi-png': 'zip',
};
const DEEP_ZOOM = ['dzi', 'dzi-png'];
const ANIMATED = ['gif', 'webp']; /* output formats that keep every frame */
const LARGE_SIDE = 4096; /* past this a plain preview is a poor way to look at a result */

let blobUrls = []; /* preview object URLs to revoke */

export function clearResults() {
    for (const url of blobUrls)
        URL.revokeObjectURL(url);
    blobUrls = [];
    byId('results').replaceChildren();
    byId('results-section').hidden = true;
    byId('download-message').textContent = '';
}

async function blobUrl(path) {
    const blob = await (await request(path)).blob();
    const url = URL.createObjectURL(blob);
    blobUrls.push(url);
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

/* The before / after pair and download button of one finished item. */
function resultPair(job, item) {
    const out = job.output.format;
    const jobPath = `${API}/jobs/${encodeURIComponent(job.id)}`;
    const name = imageName(item.image);
    const source = state.uploads.find((u) => u.image && u.image.id === item.image);
    const sourceFormat = source ? source.image.format : 'png';
    const frames = source && source.image.frames > 1 ? source.image.frames : 1;
    /* an animation into GIF or WebP without a chosen frame stays one (the
     * <img> plays it); with a frame the result is that frame alone */
    const animated = frames > 1 && ANIMATED.includes(out) && job.output.frame === undefined;
    const before = el('figure', {}, [el('figcaption', {
        text: `Before: ${name}${frames > 1 ? `, an animation of ${frames} frames` : ''}`,
    })]);
    const after = el('figure', {}, [el('figcaption', {
        text: `After: ${item.width}×${item.height}, ${out.toUpperCase()}` +
            `${animated ? `, animated (${frames} frames)` : ''}, ${formatBytes(item.bytes)}`,
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
    const resultPath = `${jobPath}/result/${encodeURIComponent(item.image)}`;
    if (DEEP_ZOOM.includes(out)) {
        after.prepend(zoomViewer(resultPath, `${name} after processing, zoomable`));
        return;
    }
    fillPreview(after, resultPath, `${name} after processing`, 'preview-after', PREVIEWABLE.includes(out));
    if (Math.max(item.width, item.height) > LARGE_SIDE)
        after.append(el('p', { class: 'hint', testid: 'zoom-hint',
            text: 'A large result: run it with the Deep Zoom output format to pan and zoom it here.' }));
}

export function showResults(job) {
    const items = (job.items || []).filter((item) => item.state === 'succeeded');
    if (!items.length)
        return;
    const section = byId('results-section');
    section.hidden = false;
    byId('download-button').hidden = job.state !== 'succeeded';
    byId('download-button').textContent = job.items.length > 1 ? 'Download all results (zip)' : 'Download result';
    for (const item of items)
        resultPair(job, item);
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

/* Downloads the result of `job`: the file of a one-image job, else a zip. */
export function downloadJob(job) {
    const single = job.items && job.items.length === 1;
    const fallback = single
        ? `${stem(imageName(job.items[0].image))}.${EXTENSIONS[job.output.format]}`
        : `job-${job.id}.zip`;
    return saveDownload(`${API}/jobs/${encodeURIComponent(job.id)}/result`, fallback);
}
