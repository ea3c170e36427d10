// Browser test of the image library and the job history (issue 12, points 5
// and 7). Starts a real `tessera serve`, stores 28 images through the API
// (chelsea.png and others, plus copies of chelsea.png with zero bytes after
// its end, which are other files), then drives Debian's chromium headless:
// server-made thumbnails show, the library scrolls on its own (the pipeline
// editor stays near the top), paging, a duplicate upload shows a notice and
// stores nothing, search by name, select all + delete selected, and the job
// history's name, duration, size, state filter, rerun and delete.
//
// Prints "ok NAME" / "FAIL NAME: why" per case and "# browser-library: N
// passed, N failed", like ui.test.mjs; every wait is bounded (STEP_MS per
// wait, TOTAL_MS for the whole run).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
    adminToken, PHOTO, ROOT, STEP_MS, api, check, launchBrowser, runCases, startServer, step,
    watchConsoleErrors,
} from './lib.mjs';

const TOKEN = adminToken();
const TOTAL_MS = 150000;
const DATA = join(ROOT, 'tests', 'data');
const OTHERS = ['coffee.png', 'rocket.jpg', 'astronaut.png'];
const COPIES = 24; /* chelsea.png with 1..24 zero bytes after its end */

const tmp = mkdtempSync(join(tmpdir(), 'tessera-library-'));

async function upload(base, bytes, name) {
    const response = await fetch(`${base}/api/v1/images?name=${encodeURIComponent(name)}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/octet-stream' },
        body: bytes,
    });
    const body = await response.json();
    check(response.status === 201, `upload ${name}: ${response.status} ${JSON.stringify(body)}`);
    return body;
}

async function total(base, path) {
    return (await api(base, TOKEN, 'GET', path)).total;
}

/* Waits (bounded) until fn(arg) is true in the page. */
function until(page, fn, arg) {
    return page.waitForFunction(fn, arg, { timeout: STEP_MS });
}

async function main() {
    const consoleErrors = [];
    let base = '';
    let page = null;
    const ids = {};
    let jobId = '';

    await step('server starts with 28 stored images', async () => {
        base = await startServer(['--data', join(tmp, 'data')], { TESSERA_ADMIN_TOKEN: TOKEN });
        const photo = readFileSync(PHOTO);
        for (let i = 1; i <= COPIES; i++)
            await upload(base, Buffer.concat([photo, Buffer.alloc(i)]), `copy-${String(i).padStart(2, '0')}.png`);
        for (const name of OTHERS)
            ids[name] = (await upload(base, readFileSync(join(DATA, name)), name)).id;
        ids['chelsea.png'] = (await upload(base, photo, 'chelsea.png')).id;
        check(await total(base, '/api/v1/images') === COPIES + OTHERS.length + 1, 'not 28 images stored');
    });

    await step('sign in: the library shows server thumbnails', async () => {
        const context = await launchBrowser(join(tmp, 'profile'));
        page = context.pages()[0] || await context.newPage();
        watchConsoleErrors(page, consoleErrors);
        page.on('dialog', (dialog) => dialog.accept());
        await page.goto(`${base}/`);
        await page.fill('#token-input', TOKEN);
        await page.click('#signin-button');
        await page.waitForSelector('body[data-auth="signed-in"]');
        await until(page, () => document.querySelectorAll('[data-testid="library-thumb"][data-loaded="true"]').length === 24);
        const sizes = await page.$$eval('[data-testid="library-thumb"]', (imgs) => imgs.map((i) => [i.naturalWidth, i.naturalHeight]));
        check(sizes.every(([w, h]) => w > 0 && w <= 256 && h > 0 && h <= 256), `thumbnail sizes ${JSON.stringify(sizes)}`);
        const pageText = await page.locator('#library-page').innerText();
        check(pageText.startsWith('1–24 of 28'), `pager says "${pageText}"`);
    });

    await step('the library scrolls on its own: the editor stays on screen', async () => {
        const box = await page.locator('#upload-list').boundingBox();
        const list = await page.locator('#upload-list').evaluate((e) => [e.scrollHeight, e.clientHeight, getComputedStyle(e).overflowY]);
        check(list[2] === 'auto' && list[0] > list[1], `list scroll ${JSON.stringify(list)}`);
        check(box.height <= 400, `the library is ${box.height} px high`);
        const editor = await page.locator('#pipeline-section').boundingBox();
        check(editor.y < 1000, `the pipeline editor starts ${editor.y} px down`);
    });

    await step('paging: next page shows the rest', async () => {
        await page.click('#library-next');
        await until(page, () => document.getElementById('library-page').textContent.startsWith('25–28 of 28'));
        await until(page, () => document.querySelectorAll('[data-testid="upload-item"]').length === 4);
        await page.click('#library-prev');
        await until(page, () => document.getElementById('library-page').textContent.startsWith('1–24'));
    });

    await step('a duplicate upload shows a notice and stores nothing', async () => {
        await page.setInputFiles('#file-input', PHOTO);
        await page.waitForSelector('#library-notice:not([hidden])');
        const notice = await page.locator('#library-notice').innerText();
        check(notice.includes('already in your library'), `notice "${notice}"`);
        const cards = await page.$$eval(`[data-testid="upload-item"][data-image-id="${ids['chelsea.png']}"]`, (els) => els.length);
        check(cards === 1, `${cards} cards for chelsea.png`);
        check(await total(base, '/api/v1/images') === 28, 'the duplicate was stored');
        const ticked = await page.locator(`[data-testid="upload-item"][data-image-id="${ids['chelsea.png']}"] [data-testid="upload-use"]`).isChecked();
        check(ticked, 'the existing image is not selected');
    });

    await step('search by name', async () => {
        await page.click('#library-none');
        await page.fill('#library-search', 'COFF');
        await until(page, () => document.getElementById('library-page').textContent.includes('1–1 of 1'));
        const names = await page.$$eval('[data-testid="upload-item"] .upload-name', (els) => els.map((e) => e.textContent));
        check(names.join() === 'coffee.png', `cards ${names.join()}`);
    });

    await step('select all + delete selected', async () => {
        await page.fill('#library-search', 'copy-0');
        await until(page, () => document.getElementById('library-page').textContent.includes('of 9'));
        await page.click('#library-all');
        const label = await page.locator('#library-delete').innerText();
        check(label === 'Delete selected (9)', `button says "${label}"`);
        await page.click('#library-delete');
        await until(page, () => document.getElementById('library-page').textContent.includes('No images match'));
        check(await total(base, '/api/v1/images') === 19, 'not 9 images deleted');
        check(await total(base, '/api/v1/images?q=copy-0') === 0, 'copies left');
        await page.fill('#library-search', '');
        await until(page, () => document.getElementById('library-page').textContent.startsWith('1–19 of 19'));
    });

    await step('history: name, duration, size; rerun', async () => {
        const job = await api(base, TOKEN, 'POST', '/api/v1/jobs',
            { images: [ids['rocket.jpg']], pipeline: 'grayscale', name: 'my rocket' });
        jobId = job.id;
        for (let i = 0; i < 100 && (await api(base, TOKEN, 'GET', `/api/v1/jobs/${jobId}`)).state !== 'succeeded'; i++)
            await new Promise((resolve) => setTimeout(resolve, 100));
        await page.click('#jobs-refresh-button');
        const row = page.locator(`[data-testid="job-row"][data-job-id="${jobId}"]`);
        await row.waitFor();
        check(await row.locator('[data-testid="job-name"]').innerText() === 'my rocket', 'no name');
        check(/^\d+\.\d s$/.test(await row.locator('[data-testid="job-duration"]').innerText()), 'no duration');
        check(/(bytes|KB|MB)$/.test(await row.locator('[data-testid="job-size"]').innerText()), 'no size');
        await row.locator('[data-testid="job-rerun"]').click();
        await until(page, (old) => {
            const panel = document.getElementById('job-panel');
            return panel.dataset.jobId && panel.dataset.jobId !== old && panel.dataset.state === 'succeeded';
        }, jobId);
        const rerun = await api(base, TOKEN, 'GET', `/api/v1/jobs/${await page.getAttribute('#job-panel', 'data-job-id')}`);
        check(rerun.name === 'my rocket' && rerun.pipeline_text === job.pipeline_text, `rerun ${JSON.stringify(rerun)}`);
        await until(page, () => document.querySelectorAll('[data-testid="job-row"]').length === 2);
    });

    await step('history: state filter and delete', async () => {
        await page.selectOption('#jobs-state-filter', 'failed');
        await until(page, () => document.querySelectorAll('[data-testid="job-row"]').length === 0
            && !document.getElementById('jobs-empty').hidden);
        await page.selectOption('#jobs-state-filter', 'succeeded');
        await until(page, () => document.querySelectorAll('[data-testid="job-row"]').length === 2);
        await page.locator(`[data-testid="job-row"][data-job-id="${jobId}"] [data-testid="job-delete"]`).click();
        await until(page, (id) => !document.querySelector(`[data-testid="job-row"][data-job-id="${id}"]`), jobId);
        check(await total(base, '/api/v1/jobs') === 1, 'the job was not deleted');
    });

    await step('no console errors', async () => {
        check(consoleErrors.length === 0, consoleErrors.join('; '));
    });
}

await runCases({ label: 'browser-library', title: 'library browser test', totalMs: TOTAL_MS, tmp }, main);
