/*
 * A zoomable view of a Deep Zoom result (output format dzi / dzi-png): the
 * descriptor from GET .../result/{image}/dzi, then the tiles of the level
 * that matches the zoom from .../dzi/{level}/{col}_{row}.{ext}, fetched
 * with the token (request()) and drawn on a canvas, the coarser levels
 * already loaded drawn first so the view is never empty. Drag to pan, the
 * wheel or the + / − / Fit buttons to zoom. Hand-written (no viewer
 * library): tiles need the Authorization header, which an <img> cannot send.
 * The canvas carries data-level (the level drawn), data-view (x,y of its
 * top-left in full-size pixels, and the scale) and data-tiles (tiles
 * loaded) for the tests.
 */
import { request } from './api.js';
import { el } from './dom.js';
import { plainError } from './messages.js';

const MAX_CACHED = 400; /* decoded tiles kept */
const MAX_LOADING = 6;  /* tile requests in flight */

/* {width, height, tile, overlap, ext, max} from the descriptor's XML. */
function parseDescriptor(text) {
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    const image = doc.getElementsByTagName('Image')[0];
    const size = doc.getElementsByTagName('Size')[0];
    if (!image || !size)
        throw new Error('not a Deep Zoom descriptor');
    const width = Number(size.getAttribute('Width')), height = Number(size.getAttribute('Height'));
    return {
        width, height,
        tile: Number(image.getAttribute('TileSize')),
        overlap: Number(image.getAttribute('Overlap')),
        ext: image.getAttribute('Format'),
        max: Math.ceil(Math.log2(Math.max(width, height, 1))),
    };
}

class Viewer {
    constructor(base, dzi, canvas) {
        Object.assign(this, { base, dzi, canvas, cache: new Map(), loading: new Set(), queue: [] });
        this.loaded = 0;
        this.fit();
    }

    fit() {
        const { width, height } = this.canvas;
        this.scale = Math.min(width / this.dzi.width, height / this.dzi.height);
        this.x = (this.dzi.width - width / this.scale) / 2; /* full-size px at the canvas's left */
        this.y = (this.dzi.height - height / this.scale) / 2;
        this.draw();
    }

    /* Zooms by `factor` keeping full-size point under canvas (cx, cy) in place. */
    zoom(factor, cx = this.canvas.width / 2, cy = this.canvas.height / 2) {
        const fit = Math.min(this.canvas.width / this.dzi.width, this.canvas.height / this.dzi.height);
        const scale = Math.min(Math.max(this.scale * factor, fit / 2), 8);
        this.x += cx / this.scale - cx / scale;
        this.y += cy / this.scale - cy / scale;
        this.scale = scale;
        this.draw();
    }

    pan(dx, dy) {
        this.x -= dx / this.scale;
        this.y -= dy / this.scale;
        this.draw();
    }

    /* The level whose pixels are at least as fine as the screen's. */
    level() {
        return Math.min(this.dzi.max, Math.max(0, this.dzi.max + Math.ceil(Math.log2(this.scale))));
    }

    /* Draws the visible tiles of `level` that are loaded; returns the missing ones. */
    drawLevel(ctx, level) {
        const { tile, overlap, max, width, height } = this.dzi;
        const f = 2 ** (level - max); /* level px per full-size px */
        const [lw, lh] = [Math.ceil(width * f), Math.ceil(height * f)];
        const c0 = Math.max(0, Math.floor(this.x * f / tile));
        const r0 = Math.max(0, Math.floor(this.y * f / tile));
        const c1 = Math.min(Math.ceil(lw / tile) - 1, Math.floor((this.x + this.canvas.width / this.scale) * f / tile));
        const r1 = Math.min(Math.ceil(lh / tile) - 1, Math.floor((this.y + this.canvas.height / this.scale) * f / tile));
        const missing = [];
        for (let r = r0; r <= r1; r++) {
            for (let c = c0; c <= c1; c++) {
                const key = `${level}/${c}_${r}`;
                const bitmap = this.cache.get(key);
                if (!bitmap) {
                    missing.push(key);
                    continue;
                }
                const x0 = c * tile - (c ? overlap : 0), y0 = r * tile - (r ? overlap : 0);
                const k = this.scale / f;
                ctx.drawImage(bitmap, (x0 / f - this.x) * this.scale, (y0 / f - this.y) * this.scale,
                    bitmap.width * k, bitmap.height * k);
            }
        }
        return missing;
    }

    draw() {
        const ctx = this.canvas.getContext('2d');
        ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
        const level = this.level();
        for (let l = Math.max(0, level - 4); l < level; l++)
            this.drawLevel(ctx, l);
        this.queue = this.drawLevel(ctx, level);
        if (level > 0 && !this.cache.size)
            this.queue.push('0/0_0');
        this.canvas.dataset.level = String(level);
        this.canvas.dataset.view = `${Math.round(this.x)},${Math.round(this.y)},${this.scale.toFixed(4)}`;
        this.pump();
    }

    /* Starts tile requests for the queue, MAX_LOADING at a time. */
    pump() {
        while (this.loading.size < MAX_LOADING && this.queue.length) {
            const key = this.queue.shift();
            if (this.loading.has(key) || this.cache.has(key))
                continue;
            this.loading.add(key);
            request(`${this.base}/dzi/${key}.${this.dzi.ext}`)
                .then((response) => response.blob())
                .then((blob) => createImageBitmap(blob))
                .then((bitmap) => {
                    this.cache.set(key, bitmap);
                    this.loaded++;
                    this.canvas.dataset.tiles = String(this.loaded);
                    if (this.cache.size > MAX_CACHED)
                        this.cache.delete(this.cache.keys().next().value);
                })
                .catch((err) => { this.canvas.dataset.error = plainError(err, 'Loading a tile'); })
                .finally(() => {
                    this.loading.delete(key);
                    this.draw();
                });
        }
    }
}

/* Wires dragging and the wheel on the canvas. */
function listen(viewer, canvas) {
    let drag = null;
    canvas.addEventListener('pointerdown', (e) => {
        drag = { x: e.clientX, y: e.clientY };
        canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener('pointermove', (e) => {
        if (!drag)
            return;
        const k = canvas.width / canvas.getBoundingClientRect().width; /* canvas px per CSS px */
        viewer.pan((e.clientX - drag.x) * k, (e.clientY - drag.y) * k);
        drag = { x: e.clientX, y: e.clientY };
    });
    canvas.addEventListener('pointerup', () => { drag = null; });
    canvas.addEventListener('wheel', (e) => {
        e.preventDefault();
        const box = canvas.getBoundingClientRect();
        const k = canvas.width / box.width;
        viewer.zoom(e.deltaY < 0 ? 1.25 : 0.8, (e.clientX - box.left) * k, (e.clientY - box.top) * k);
    }, { passive: false });
}

/* A figure element holding the viewer of the Deep Zoom result at `base`
 * (.../jobs/{id}/result/{image}); `label` names it for screen readers. */
export function zoomViewer(base, label) {
    const canvas = el('canvas', { class: 'zoom-canvas', testid: 'zoom-canvas' });
    canvas.width = 640;
    canvas.height = 400;
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', label);
    const button = (text, name, testid) => el('button', { type: 'button', text, testid, 'aria-label': name });
    const zoomIn = button('+', 'Zoom in', 'zoom-in'), zoomOut = button('−', 'Zoom out', 'zoom-out');
    const fit = button('Fit', 'Show the whole image', 'zoom-fit');
    const status = el('p', { class: 'hint', text: 'Loading the zoomable view…' });
    const box = el('div', { class: 'zoom-viewer', testid: 'zoom-viewer' }, [
        canvas, el('div', { class: 'zoom-buttons' }, [zoomIn, zoomOut, fit]), status]);
    request(`${base}/dzi`).then((r) => r.text()).then((text) => {
        const dzi = parseDescriptor(text);
        const viewer = new Viewer(base, dzi, canvas);
        listen(viewer, canvas);
        zoomIn.addEventListener('click', () => viewer.zoom(2));
        zoomOut.addEventListener('click', () => viewer.zoom(0.5));
        fit.addEventListener('click', () => viewer.fit());
        status.textContent = `${dzi.width}×${dzi.height} px: drag to pan, scroll or use + / − to zoom.`;
        box.dataset.state = 'ready';
    }).catch((err) => {
        status.className = 'error-text';
        status.textContent = plainError(err, 'Loading the zoomable view');
        box.dataset.state = 'error';
    });
    return box;
}
