// Browser test of saved pipelines and recorded versions (issue 14 point 3).
// Starts a real `tessera serve` with chelsea.png stored, then drives
// Debian's chromium headless: the editor's pipeline saved under a name
// (version 1), changed and saved again (version 2), the versions listed and
// version 1 rolled back to (version 3), an older version and a pipeline
// with a kernel loaded back into the editor (steps, parameters, output),
// a job run from it showing its tessera and op versions and output
// settings, and "Rerun" in the history giving the same bytes.
//
// Prints "ok NAME" / "FAIL NAME: why" per case and "# browser-versions: N
// passed, N failed", like the other browser tests; every wait is bounded.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
    adminToken, PHOTO, STEP_MS, api, check, launchBrowser, runCases, startServer, step, watchConsoleErrors,
} from './lib.mjs';

const TOKEN = adminToken();
const TOTAL_MS = 150000;
const SHARPEN = [0, -1, 0, -1, 5, -1, 0, -1, 0];

const tmp = mkdtempSync(join(tmpdir(), 'tessera-versions-'));

function until(page, fn, arg) {
    return page.waitForFunction(fn, arg, { timeout: STEP_MS });
}

async function waitJob(base, id) {
    for (let i = 0; i < 300; i++) {
        const job = await api(base, TOKEN, 'GET', `/api/v1/jobs/${id}`);
        if (['succeeded', 'failed', 'cancelled'].includes(job.state))
            return job;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`job ${id} did not finish`);
}

async function resultBytes(base, job) {
    const response = await fetch(`${base}/api/v1/jobs/${job.id}/result/${job.items[0].image}`,
        { headers: { Authorization: `Bearer ${TOKEN}` } });
    check(response.status === 200, `result of ${job.id}: ${response.status}`);
    return Buffer.from(await response.arrayBuffer());
}

/* The step at `index` (0-based) of the editor. */
function stepAt(page, index) {
    return page.locator(`[data-testid="step"][data-index="${index}"]`);
}

async function addStep(page, op) {
    await page.selectOption('#op-select', op);
    await page.click('#add-step-button');
}

async function main() {
    const consoleErrors = [];
    let base = '';
    let page = null;
    let image = '';
    let job = null;

    await step('server starts with one stored image', async () => {
        base = await startServer(['--data', join(tmp, 'data')], { TESSERA_ADMIN_TOKEN: TOKEN });
        const response = await fetch(`${base}/api/v1/images?name=chelsea.png`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/octet-stream' },
            body: readFileSync(PHOTO),
        });
        image = (await response.json()).id;
        check(response.status === 201 && image, 'upload failed');
        await api(base, TOKEN, 'POST', '/api/v1/pipelines/saved',
            { name: 'kern', pipeline: [{ op: 'convolve', kernel: SHARPEN }] });
    });

    await step('sign in: the saved pipelines are listed', async () => {
        const context = await launchBrowser(join(tmp, 'profile'));
        page = context.pages()[0] || await context.newPage();
        watchConsoleErrors(page, consoleErrors);
        await page.goto(`${base}/`);
        await page.fill('#token-input', TOKEN);
        await page.click('#signin-button');
        await page.waitForSelector('body[data-auth="signed-in"]');
        await until(page, () => document.getElementById('saved-select').options.length === 1
            && document.getElementById('saved-select').value === 'kern');
        check(await page.locator('#saved-load').isEnabled(), 'Load is disabled');
    });

    await step('save the editor pipeline, then a second version', async () => {
        await addStep(page, 'brightness');
        await stepAt(page, 0).locator('[data-testid="param-delta"]').fill('25');
        await addStep(page, 'rotate');
        await stepAt(page, 1).locator('[data-testid="param-angle"]').fill('30');
        await page.fill('#saved-name', 'look');
        await page.click('#saved-save');
        await until(page, () => document.getElementById('status-message').textContent.startsWith('Saved look as version 1'));
        const v1 = await api(base, TOKEN, 'GET', '/api/v1/pipelines/saved/look');
        check(v1.version === 1 && v1.pipeline_text.startsWith('brightness@1:delta=25|rotate@1:angle=30'),
            `saved ${JSON.stringify(v1)}`);
        await stepAt(page, 0).locator('[data-testid="param-delta"]').fill('40');
        await page.selectOption('#output-format', 'jpeg');
        await page.click('#saved-save');
        await until(page, () => document.getElementById('status-message').textContent.startsWith('Saved look as version 2'));
        const v2 = await api(base, TOKEN, 'GET', '/api/v1/pipelines/saved/look');
        check(v2.version === 2 && v2.pipeline_text.startsWith('brightness@1:delta=40') && v2.output.format === 'jpeg',
            `saved ${JSON.stringify(v2)}`);
        /* the list is reloaded after the message (saved.js): wait for it,
         * which takes longer through the balancer */
        const want = 'kern (version 1),look (version 2)';
        await until(page, (w) => [...document.querySelectorAll('#saved-select option')]
            .map((o) => o.textContent).join() === w, want).catch(() => {});
        const options = await page.$$eval('#saved-select option', (os) => os.map((o) => o.textContent));
        check(options.join() === want, `options ${options.join()}`);
    });

    await step('versions: roll back to version 1', async () => {
        await page.selectOption('#saved-select', 'look');
        await page.click('#saved-history');
        await until(page, () => document.querySelectorAll('[data-testid="saved-version"]').length === 2);
        check(await page.locator('[data-testid="saved-version"][data-version="2"] [data-testid="saved-version-rollback"]').isDisabled(),
            'the newest version offers a rollback');
        await page.locator('[data-testid="saved-version"][data-version="1"] [data-testid="saved-version-rollback"]').click();
        await until(page, () => document.querySelectorAll('[data-testid="saved-version"]').length === 3);
        const v3 = await api(base, TOKEN, 'GET', '/api/v1/pipelines/saved/look');
        const v1 = await api(base, TOKEN, 'GET', '/api/v1/pipelines/saved/look/versions/1');
        check(v3.version === 3 && v3.rollback_of === 1 && v3.pipeline_text === v1.pipeline_text,
            `after the rollback ${JSON.stringify(v3)}`);
        const row = await page.locator('[data-testid="saved-version"][data-version="3"]').innerText();
        check(row.includes('rollback to version 1'), `row "${row}"`);
    });

    await step('load an older version and a kernel into the editor', async () => {
        await page.locator('[data-testid="saved-version"][data-version="2"] [data-testid="saved-version-load"]').click();
        await until(page, () => document.getElementById('status-message').textContent.startsWith('Loaded look version 2'));
        check(await stepAt(page, 0).locator('[data-testid="param-delta"]').inputValue() === '40', 'delta not loaded');
        check(await stepAt(page, 1).locator('[data-testid="param-angle-slider"]').inputValue() === '30', 'angle slider not loaded');
        check(await page.locator('#output-format').inputValue() === 'jpeg', 'output format not loaded');
        await page.selectOption('#saved-select', 'kern');
        await page.click('#saved-load');
        await until(page, () => document.getElementById('status-message').textContent.startsWith('Loaded kern version 1'));
        const cells = await stepAt(page, 0).locator('[data-testid="kernel-cell"]').evaluateAll((cs) => cs.map((c) => Number(c.value)));
        check(cells.join() === SHARPEN.join(), `kernel cells ${cells.join()}`);
        check(await page.locator('[data-testid="step"]').count() === 1, 'old steps left');
    });

    await step('run the loaded version 1: the job panel shows its versions', async () => {
        await page.selectOption('#saved-select', 'look');
        await page.click('#saved-history');
        await until(page, () => !document.getElementById('saved-versions').hidden);
        await page.locator('[data-testid="saved-version"][data-version="1"] [data-testid="saved-version-load"]').click();
        await until(page, () => document.getElementById('status-message').textContent.startsWith('Loaded look version 1'));
        await page.locator(`[data-testid="upload-item"][data-image-id="${image}"] [data-testid="upload-use"]`).check();
        await page.click('#check-button');
        await page.waitForSelector('#confirm-panel:not([hidden])');
        await page.click('#run-button');
        await page.waitForSelector('#job-panel[data-state="succeeded"]');
        job = await api(base, TOKEN, 'GET', `/api/v1/jobs/${await page.getAttribute('#job-panel', 'data-job-id')}`);
        check(job.pipeline_text.startsWith('brightness@1:delta=25|rotate@1:angle=30'), `job ${job.pipeline_text}`);
        const text = await page.locator('#job-versions').innerText();
        const want = `Ran with tessera ${job.versions.tessera}: brightness@1, rotate@1 · png, quality 85, tile 256`;
        check(text === want, `#job-versions says "${text}", not "${want}"`);
    });

    await step('rerun from the history gives the same bytes', async () => {
        const row = page.locator(`[data-testid="job-row"][data-job-id="${job.id}"]`);
        await row.waitFor();
        await row.locator('[data-testid="job-rerun"]').click();
        await until(page, (old) => {
            const panel = document.getElementById('job-panel');
            return panel.dataset.jobId && panel.dataset.jobId !== old && panel.dataset.state === 'succeeded';
        }, job.id);
        const again = await waitJob(base, await page.getAttribute('#job-panel', 'data-job-id'));
        check(again.pipeline_text === job.pipeline_text, `rerun ran ${again.pipeline_text}`);
        check(JSON.stringify(again.versions) === JSON.stringify(job.versions), 'other versions');
        check((await resultBytes(base, again)).equals(await resultBytes(base, job)), 'the rerun gave other bytes');
    });

    await step('no console errors', async () => {
        check(consoleErrors.length === 0, consoleErrors.join('; '));
    });
}

await runCases({ label: 'browser-versions', title: 'versions browser test', totalMs: TOTAL_MS, tmp }, main);
