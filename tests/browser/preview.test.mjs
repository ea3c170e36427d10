// Browser test of presets and the live preview (issue 12, point 6) against
// a real `tessera serve`, in Debian's chromium headless:
//
// - "Start from a preset" lists the presets; picking "Edge detection" fills
//   the steps (ops and values as the preset says) and the confirmation
//   (#pipeline-text shows the preset's normalized text, Run is enabled);
//   picking another preset replaces the steps;
// - ticking an image shows the preview <img> beside the editor, for that
//   image, on its small copy; changing a parameter changes the picture
//   (a new blob: URL with other pixels), with "updating" in between; a
//   parameter the server refuses shows the error text instead;
// - at 390 px the preview sits above the steps without pushing the editor
//   off screen, and nothing is wider than the window (screenshots
//   tests/artifacts/webui-preview-1280.png, webui-preview-390.png); no
//   console error.
//
// Prints "ok NAME" / "FAIL NAME: why" per case and "# browser-preview: N
// passed, N failed"; every wait is bounded.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
    adminToken, PHOTO, ROOT, STEP_MS, api, check, launchBrowser, runCases, startServer, step,
    watchConsoleErrors,
} from './lib.mjs';

const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
const TOKEN = adminToken();
const TOTAL_MS = 150000;
const tmp = mkdtempSync(join(tmpdir(), 'tessera-preview-'));

function until(page, fn, arg) {
    return page.waitForFunction(fn, arg, { timeout: STEP_MS });
}

/* The shown preview's blob URL and its pixels as a data: URL (to compare). */
function previewPixels(page) {
    return page.evaluate(() => {
        const img = document.getElementById('preview-image');
        const canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        canvas.getContext('2d').drawImage(img, 0, 0);
        return { src: img.src, key: img.dataset.key, w: img.naturalWidth, h: img.naturalHeight, data: canvas.toDataURL() };
    });
}

async function waitReady(page, previousSrc) {
    await until(page, (old) => {
        const panel = document.getElementById('preview-panel');
        const img = document.getElementById('preview-image');
        return panel.dataset.state === 'ready' && !img.hidden && img.complete && img.naturalWidth > 0 && img.src !== old;
    }, previousSrc || '');
}

async function main() {
    const consoleErrors = [];
    let base = '';
    let page = null;
    let presets = [];
    let imageId = '';
    let first = null;

    await step('server starts with chelsea.png stored', async () => {
        base = await startServer(['--data', join(tmp, 'data')], { TESSERA_ADMIN_TOKEN: TOKEN });
        const response = await fetch(`${base}/api/v1/images?name=chelsea.png`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/octet-stream' },
            body: readFileSync(PHOTO),
        });
        check(response.status === 201, `upload: ${response.status}`);
        imageId = (await response.json()).id;
        presets = await api(base, TOKEN, 'GET', '/api/v1/presets');
        check(presets.some((p) => p.name === 'Edge detection'), 'no Edge detection preset');
    });

    await step('the preset select lists the presets', async () => {
        const context = await launchBrowser(join(tmp, 'profile'));
        page = context.pages()[0] || await context.newPage();
        watchConsoleErrors(page, consoleErrors);
        await page.goto(`${base}/`);
        await page.fill('#token-input', TOKEN);
        await page.click('#signin-button');
        await page.waitForSelector('body[data-auth="signed-in"]');
        await until(page, (n) => document.querySelectorAll('#preset-select option').length === n + 1, presets.length);
        const names = await page.$$eval('#preset-select option', (os) => os.map((o) => o.textContent));
        for (const name of ['Edge detection', 'Web thumbnail', 'Scan clean-up', "The original design's pipeline"])
            check(names.includes(name), `no "${name}" in ${names.join(', ')}`);
        const state = await page.getAttribute('#preview-panel', 'data-state');
        check(state === 'idle', `preview state ${state} before any image is ticked`);
    });

    await step('picking a preset fills the steps and the confirmation', async () => {
        const edge = presets.find((p) => p.name === 'Edge detection');
        await page.selectOption('#preset-select', { label: 'Edge detection' });
        await page.waitForSelector('#confirm-panel:not([hidden])');
        const ops = await page.$$eval('[data-testid="step"]', (els) => els.map((e) => e.dataset.op));
        check(ops.join() === edge.steps.map((s) => s.op).join(), `steps ${ops.join()}`);
        const sigma = await page.inputValue('[data-testid="step"][data-op="gaussian-blur"] [data-testid="param-sigma"]');
        check(Number(sigma) === edge.steps[1].sigma, `sigma field ${sigma}`);
        const low = await page.inputValue('[data-testid="step"][data-op="canny"] [data-testid="param-low"]');
        check(Number(low) === edge.steps[2].low, `low field ${low}`);
        const text = await page.locator('#pipeline-text').innerText();
        check(text === edge.pipeline, `confirmation "${text}", preset "${edge.pipeline}"`);
        const described = await page.locator('#preset-description').innerText();
        check(described.includes(edge.description), `description "${described}"`);
        // another preset replaces the steps
        const original = presets.find((p) => p.id === 'original-design');
        await page.selectOption('#preset-select', original.id);
        await until(page, (t) => document.getElementById('pipeline-text').textContent === t
            && !document.getElementById('confirm-panel').hidden, original.pipeline);
        const count = await page.locator('[data-testid="step"]').count();
        check(count === 3, `${count} steps after the second preset`);
        const ksize = await page.inputValue('[data-testid="step"][data-op="gaussian-blur"] [data-testid="param-ksize"]');
        check(ksize === '5', `ksize ${ksize}`);
    });

    await step('ticking an image shows its preview beside the editor', async () => {
        await page.locator(`[data-testid="upload-item"][data-image-id="${imageId}"] [data-testid="upload-use"]`).check();
        await waitReady(page);
        first = await previewPixels(page);
        check(first.src.startsWith('blob:'), `src ${first.src}`);
        check(first.key.includes(imageId), `key ${first.key}`);
        check(Math.max(first.w, first.h) === 256, `preview ${first.w}x${first.h}, not the 256 px copy`);
        const status = await page.locator('#preview-status').innerText();
        check(status.includes('chelsea.png') && status.includes('small copy'), `status "${status}"`);
        const label = await page.locator('#preview-heading').innerText();
        check(/preview/i.test(label), `label "${label}"`);
        const [panel, editor] = [await page.locator('#preview-panel').boundingBox(),
            await page.locator('#steps-list').boundingBox()];
        check(panel.x > editor.x + editor.width - 1, 'the preview is not beside the steps at 1280 px');
    });

    await step('changing a parameter changes the preview', async () => {
        const low = '[data-testid="step"][data-op="canny"] [data-testid="param-low"]';
        const high = '[data-testid="step"][data-op="canny"] [data-testid="param-high"]';
        await page.fill(low, '10');
        await page.fill(high, '30');
        /* No wait for data-state "updating": a fast answer can come and go
         * between two polls. A new picture, ready, is what counts. */
        await waitReady(page, first.src);
        const second = await previewPixels(page);
        check(second.data !== first.data, 'the preview shows the same pixels after low/high changed');
        check(second.key.includes('"low":10'), `key ${second.key}`);
        // a crop valid on the 451x300 image only (x=300 is outside the 256 px copy)
        await page.selectOption('#op-select', 'crop');
        await page.click('#add-step-button');
        await page.fill('[data-testid="step"][data-op="crop"] [data-testid="param-x"]', '300');
        await page.fill('[data-testid="step"][data-op="crop"] [data-testid="param-width"]', '100');
        await waitReady(page, second.src);
        const third = await previewPixels(page);
        check(third.w === Math.round(100 * 256 / 451), `cropped preview is ${third.w} px wide`);
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.locator('#pipeline-section').screenshot({ path: join(ARTIFACTS, 'webui-preview-1280.png') });
    });

    await step('a refused parameter shows the error instead', async () => {
        await page.fill('[data-testid="step"][data-op="crop"] [data-testid="param-x"]', '460');
        await until(page, () => document.getElementById('preview-panel').dataset.state === 'error');
        const status = await page.locator('#preview-status').innerText();
        check(status.includes('lies outside the 451x300 image'), `status "${status}"`);
        check(await page.locator('#preview-image').isHidden(), 'the old picture is still shown');
        await page.fill('[data-testid="step"][data-op="crop"] [data-testid="param-x"]', '10');
        await waitReady(page);
    });

    await step('at 390 px the preview leaves the editor on screen', async () => {
        await page.setViewportSize({ width: 390, height: 844 });
        await page.waitForTimeout(300);
        const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
        check(scroll <= inner, `the page is ${scroll} px wide in a ${inner} px window`);
        await page.locator('#pipeline-heading').scrollIntoViewIfNeeded();
        await page.evaluate(() => document.getElementById('pipeline-heading').scrollIntoView());
        const panel = await page.locator('#preview-panel').boundingBox();
        const picker = await page.locator('#preset-select').boundingBox();
        check(panel.width <= 390, `preview panel ${panel.width} px wide`);
        check(picker.y + picker.height < 844, `the preset picker is ${picker.y} px down, off screen`);
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, 'webui-preview-390.png'), fullPage: false });
        await page.setViewportSize({ width: 1280, height: 900 });
    });

    await step('no console errors', async () => {
        // the refused crop (400), and an older preview the server dropped for a newer one (409)
        const provoked = /^Failed to load resource: the server responded with a status of (400|409) .*\/api\/v1\/images\/[0-9a-f]{32}\/preview\)$/;
        const errors = consoleErrors.filter((e) => !provoked.test(e));
        check(errors.length === 0, errors.join(' | '));
    });
}

runCases({ label: 'browser-preview', title: 'preview browser test', totalMs: TOTAL_MS, tmp }, main);
