// Browser test of the zoomable view of a large Deep Zoom result (issue 15
// point 3) against a real `tessera serve`, in Debian's chromium headless:
//
// - a 5000x3000 image run with output {"format": "dzi"}; opening the job
//   from the history shows the viewer (js/zoom.js) instead of a plain
//   preview, which loads the descriptor and tiles (200, image/jpeg) with the
//   token and draws them (the canvas is not blank);
// - "+" zooms in: the level drawn goes up and tiles of that level are
//   fetched and answer 200; dragging pans (other tiles come); "Fit" goes
//   back to the whole image;
// - the finished view is kept as tests/artifacts/webui-zoom.png; no console
//   error.
//
// Prints "ok NAME" / "FAIL NAME: why" per case and "# browser-zoom: N
// passed, N failed"; every wait is bounded.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
    adminToken, BIN, PHOTO, ROOT, STEP_MS, api, check, launchBrowser, runCases, startServer, step,
    watchConsoleErrors,
} from './lib.mjs';

const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
const TOKEN = adminToken();
const TOTAL_MS = 180000;
const tmp = mkdtempSync(join(tmpdir(), 'tessera-zoom-'));

function until(page, fn, arg) {
    return page.waitForFunction(fn, arg, { timeout: STEP_MS });
}

async function finishedJob(base, image) {
    const job = await api(base, TOKEN, 'POST', '/api/v1/jobs', {
        images: [image], pipeline: 'brightness:delta=0', name: 'large result', output: { format: 'dzi' },
    });
    for (let i = 0; i < 600; i++) {
        const now = await api(base, TOKEN, 'GET', `/api/v1/jobs/${job.id}`);
        if (now.state === 'succeeded')
            return now;
        check(now.state !== 'failed' && now.state !== 'cancelled', `job ${now.state}: ${now.error}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('the job did not finish');
}

/* Canvas facts: level drawn, tiles loaded, and whether any pixel is drawn. */
function canvasState(page) {
    return page.evaluate(() => {
        const canvas = document.querySelector('[data-testid="zoom-canvas"]');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let drawn = 0;
        for (let i = 3; i < data.length; i += 4)
            drawn += data[i] > 0 ? 1 : 0;
        return { level: Number(canvas.dataset.level), tiles: Number(canvas.dataset.tiles || 0),
            drawn: drawn / (data.length / 4), error: canvas.dataset.error || '' };
    });
}

async function main() {
    const consoleErrors = [];
    const tiles = []; /* [url, status, type] of every tile response */
    let base = '';
    let page = null;
    let job = null;
    let before = null;

    await step('server starts and runs a 5000x3000 Deep Zoom job', async () => {
        const big = join(tmp, 'big.png');
        const made = spawnSync(BIN, ['process', '-p', 'resize:width=5000,height=3000', PHOTO, '-o', big]);
        check(made.status === 0, `making the image: ${made.stderr}`);
        base = await startServer(['--data', join(tmp, 'data')], { TESSERA_ADMIN_TOKEN: TOKEN });
        const response = await fetch(`${base}/api/v1/images?name=big.png`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/octet-stream' },
            body: readFileSync(big),
        });
        check(response.status === 201, `upload: ${response.status}`);
        job = await finishedJob(base, (await response.json()).id);
        check(job.items[0].width === 5000 && job.items[0].format === 'dzi', JSON.stringify(job.items[0]));
    });

    await step('opening the job shows the zoomable viewer with tiles', async () => {
        const context = await launchBrowser(join(tmp, 'profile'));
        page = context.pages()[0] || await context.newPage();
        watchConsoleErrors(page, consoleErrors);
        page.on('response', (r) => {
            if (r.url().includes('/dzi/'))
                tiles.push([r.url(), r.status(), r.headers()['content-type']]);
        });
        await page.goto(`${base}/`);
        await page.fill('#token-input', TOKEN);
        await page.click('#signin-button');
        await page.waitForSelector('body[data-auth="signed-in"]');
        await page.click('#jobs-refresh-button');
        const row = page.locator(`[data-testid="job-row"][data-job-id="${job.id}"]`);
        await row.waitFor({ timeout: STEP_MS });
        await row.locator('[data-testid="job-open"]').click();
        await page.waitForSelector('[data-testid="zoom-viewer"][data-state="ready"]', { timeout: STEP_MS });
        check(await page.locator('[data-testid="preview-after"]').count() === 0, 'a plain preview is shown too');
        await until(page, () => Number(document.querySelector('[data-testid="zoom-canvas"]').dataset.tiles) >= 1);
        // the first tile may come well before the others (through a balancer, from another coordinator)
        for (const by = Date.now() + STEP_MS; ; await page.waitForTimeout(100)) {
            before = await canvasState(page);
            if (before.drawn > 0.2 || Date.now() > by)
                break;
        }
        check(before.drawn > 0.2, `only ${(before.drawn * 100).toFixed(0)}% of the canvas is drawn`);
        check(before.level < 13, `level ${before.level} at the whole-image view`);
        check(tiles.length > 0 && tiles.every(([, s, t]) => s === 200 && t === 'image/jpeg'),
            `tile answers: ${JSON.stringify(tiles)}`);
    });

    await step('zooming in fetches finer tiles, which answer 200', async () => {
        const seen = tiles.length;
        for (let i = 0; i < 3; i++)
            await page.click('[data-testid="zoom-in"]');
        await until(page, (level) => Number(document.querySelector('[data-testid="zoom-canvas"]').dataset.level) > level,
            before.level);
        const after = await canvasState(page);
        await until(page, (lvl) => performance.getEntriesByType('resource')
            .some((e) => e.name.includes(`/dzi/${lvl}/`)), after.level);
        await page.waitForTimeout(500);
        const finer = tiles.slice(seen).filter(([url]) => url.includes(`/dzi/${after.level}/`));
        check(finer.length > 0, `no tile of level ${after.level} requested: ${JSON.stringify(tiles.slice(seen))}`);
        check(finer.every(([, s]) => s === 200), `tile answers ${JSON.stringify(finer)}`);
        check(!after.error, after.error);
        const box = await page.locator('[data-testid="zoom-canvas"]').boundingBox();
        const loaded = tiles.length;
        const view = await page.getAttribute('[data-testid="zoom-canvas"]', 'data-view');
        for (let i = 0; i < 3; i++) { /* far enough that other tiles come into view */
            await page.mouse.move(box.x + box.width - 10, box.y + box.height - 10);
            await page.mouse.down();
            await page.mouse.move(box.x + 10, box.y + 10, { steps: 5 });
            await page.mouse.up();
        }
        for (let i = 0; i < 100 && tiles.length <= loaded; i++)
            await page.waitForTimeout(100);
        const moved = await page.getAttribute('[data-testid="zoom-canvas"]', 'data-view');
        check(moved !== view, `dragging did not move the view (${view})`);
        check(tiles.length > loaded, `panning (${view} to ${moved}) fetched no new tile; `
            + `${await page.getAttribute('[data-testid="zoom-canvas"]', 'data-tiles')} loaded, last ${JSON.stringify(tiles.slice(-3))}`);
        const panned = await canvasState(page);
        check(panned.drawn > 0.5, `after panning ${(panned.drawn * 100).toFixed(0)}% is drawn`);
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.locator('[data-testid="zoom-viewer"]').screenshot({ path: join(ARTIFACTS, 'webui-zoom.png') });
        await page.click('[data-testid="zoom-fit"]');
        await until(page, (level) => Number(document.querySelector('[data-testid="zoom-canvas"]').dataset.level) === level,
            before.level);
    });

    await step('no console errors', async () => {
        check(consoleErrors.length === 0, consoleErrors.join(' | '));
    });
}

runCases({ label: 'browser-zoom', title: 'zoom browser test', totalMs: TOTAL_MS, tmp }, main);
