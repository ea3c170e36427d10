// Browser test of the tessera web UI (issue 3 point 8).
//
// Starts a real `tessera serve` (TESSERA_BIN, default build/src/cli/tessera)
// on a random loopback port with a fresh data directory and a known admin
// token, drives Debian's chromium headless through playwright-core, and
// walks a user's path: sign in, upload tests/data/chelsea.png, build a
// three-step pipeline (grayscale, gaussian-blur with sigma, rotate with the
// angle slider), check it, run it, watch the progress bar reach 100%,
// download the result and decode it. The finished page is kept as
// tests/artifacts/webui-finished.png. The page's script is ES modules: every
// one of them must load (200, JavaScript) and the page log no console error.
//
// Prints one line per case, "ok NAME" or "FAIL NAME: why" (cases after a
// failure print "skip NAME"), then "# browser: N passed, N failed". Exit
// status 0 only when every case passed. The whole run is bounded by
// TOTAL_MS; the server, the browser and the temp folders are always
// cleaned up. The runner and the server/browser helpers are in lib.mjs
// (shared with tls.test.mjs).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
    CHROMIUM, PHOTO, ROOT, adminToken, api, check, checkSameAsCli, cv2Shape, launchBrowser,
    pngSize, runCases, startServer, step, watchConsoleErrors, watchScripts, webScripts,
} from './lib.mjs';

const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
const SCREENSHOT = join(ARTIFACTS, 'webui-finished.png');
// TESSERA_URL with TESSERA_TOKEN: drive a server that already runs (lib.mjs).
const TOKEN = adminToken();
const TOTAL_MS = 150000;
const SIGMA = '2';
const ANGLE = 30;

const tmp = mkdtempSync(join(tmpdir(), 'tessera-browser-'));

async function main() {
    const consoleErrors = [];
    const scripts = [];
    const sizeOf = { width: 0, height: 0 };
    let base = '';
    let page = null;
    let pipelineText = '';
    let downloadPath = '';
    let jobId = '';

    await step('server starts', async () => {
        check(spawnSync(CHROMIUM, ['--version'], { timeout: 20000 }).status === 0,
            `${CHROMIUM} does not run`);
        base = await startServer(['--data', join(tmp, 'data')], { TESSERA_ADMIN_TOKEN: TOKEN });
        const health = await fetch(`${base}/healthz`);
        check(health.status === 200, `/healthz answered ${health.status}`);
    });

    await step('browser opens the page', async () => {
        const context = await launchBrowser(join(tmp, 'profile'));
        page = context.pages()[0] || await context.newPage();
        watchConsoleErrors(page, consoleErrors);
        watchScripts(page, scripts);
        const response = await page.goto(`${base}/`);
        check(response.status() === 200, `GET / answered ${response.status()}`);
        await page.waitForSelector('body[data-auth="signed-out"]');
    });

    await step('every script module loads as JavaScript', async () => {
        // goto() waited for "load": the entry and all it imports have been fetched
        const bad = scripts.filter((s) => s.status !== 200 || !s.type.startsWith('text/javascript'));
        check(bad.length === 0, `scripts not served: ${bad.map((s) => `${s.path} ${s.status} ${s.type}`).join(', ')}`);
        const loaded = [...new Set(scripts.map((s) => s.path))].sort();
        check(loaded.join() === webScripts().join(), `loaded ${loaded.join(' ')}; want ${webScripts().join(' ')}`);
        check(consoleErrors.length === 0, `console errors on load: ${consoleErrors.join('; ')}`);
        check(await page.locator('#token-input').evaluate((e) => e === document.activeElement),
            'the entry module did not run (the token field has no focus)');
    });

    await step('sign in with the token', async () => {
        await page.fill('#token-input', TOKEN);
        await page.click('#signin-button');
        await page.waitForSelector('body[data-auth="signed-in"]');
        await page.waitForSelector('#op-select option[value="rotate"]', { state: 'attached' });
    });

    await step('upload a real photo', async () => {
        const photo = readFileSync(PHOTO);
        [sizeOf.width, sizeOf.height] = pngSize(photo);
        await page.setInputFiles('#file-input', PHOTO);
        const item = page.locator('[data-testid="upload-item"][data-state="done"]');
        await item.waitFor();
        const info = await item.locator('[data-testid="upload-info"]').innerText();
        check(info.includes(String(sizeOf.width)) && info.includes(String(sizeOf.height)),
            `confirmation does not give the size: "${info}"`);
        const imageId = await item.getAttribute('data-image-id');
        check(imageId, 'the upload item has no image id');
        const stored = await api(base, TOKEN, 'GET', `/api/v1/images/${imageId}`);
        check(stored.width === sizeOf.width && stored.format === 'png', `stored ${JSON.stringify(stored)}`);
    });

    await step('build a three-step pipeline', async () => {
        for (const op of ['grayscale', 'gaussian-blur', 'rotate']) {
            await page.selectOption('#op-select', op);
            await page.click('#add-step-button');
        }
        const ops = await page.$$eval('[data-testid="step"]', (els) => els.map((e) => e.dataset.op));
        check(ops.join() === 'grayscale,gaussian-blur,rotate', `steps are ${ops.join()}`);
        await page.fill('[data-testid="step"][data-op="gaussian-blur"] [data-testid="param-sigma"]', SIGMA);
        // the angle through its slider, from the keyboard: Home = 0, then one degree per arrow
        const slider = page.locator('[data-testid="step"][data-op="rotate"] [data-testid="param-angle-slider"]');
        await slider.focus();
        await page.keyboard.press('Home');
        for (let i = 0; i < ANGLE; i++)
            await page.keyboard.press('ArrowRight');
        check(await slider.inputValue() === String(ANGLE), `slider at ${await slider.inputValue()}`);
        const number = page.locator('[data-testid="step"][data-op="rotate"] [data-testid="param-angle"]');
        check(await number.inputValue() === String(ANGLE), `angle field shows ${await number.inputValue()}`);
    });

    await step('check shows the normalized pipeline', async () => {
        await page.click('#check-button');
        await page.waitForSelector('#confirm-panel:not([hidden])');
        pipelineText = (await page.locator('#pipeline-text').innerText()).trim();
        const expected = await api(base, TOKEN, 'POST', '/api/v1/pipelines/validate',
            { pipeline: `grayscale|gaussian-blur:sigma=${SIGMA}|rotate:angle=${ANGLE}` });
        check(pipelineText.includes(expected.text),
            `page shows "${pipelineText}", server normalizes to "${expected.text}"`);
        check(await page.locator('#run-button').isEnabled(), 'Run is not enabled after the check');
    });

    await step('run: progress bar reaches 100%', async () => {
        // record every aria-valuenow the bar takes
        await page.evaluate(() => {
            const bar = document.getElementById('progress');
            window.__progress = [];
            new MutationObserver(() => window.__progress.push(Number(bar.getAttribute('aria-valuenow'))))
                .observe(bar, { attributes: true, attributeFilter: ['aria-valuenow'] });
        });
        await page.click('#run-button');
        await page.waitForSelector('#progress[aria-valuenow="100"]');
        await page.waitForSelector('#job-panel[data-state="succeeded"]');
        jobId = await page.getAttribute('#job-panel', 'data-job-id');
        check(jobId, '#job-panel has no job id');
        const seen = await page.evaluate(() => window.__progress);
        check(seen.every((v, i) => i === 0 || v >= seen[i - 1]), `progress went back: ${seen}`);
        console.log(`# progress values seen: ${seen.join(' ')}`);
        check(seen[seen.length - 1] === 100, `progress ended at ${seen[seen.length - 1]}`);
        const text = await page.locator('#progress-text').innerText();
        check(text.startsWith('100%'), `progress text "${text}"`);
        const job = await api(base, TOKEN, 'GET', `/api/v1/jobs/${jobId}`);
        check(job.state === 'succeeded' && job.percent === 100, `job ${JSON.stringify(job)}`);
        check(job.pipeline_text === pipelineText || pipelineText.includes(job.pipeline_text),
            `the job ran "${job.pipeline_text}", the page showed "${pipelineText}"`);
    });

    await step('download the result', async () => {
        await page.waitForSelector('#download-button:visible');
        const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-button')]);
        check(download.suggestedFilename().endsWith('.png'), `download named ${download.suggestedFilename()}`);
        downloadPath = join(tmp, download.suggestedFilename());
        await download.saveAs(downloadPath);
        check(!(await download.failure()), `download failed: ${await download.failure()}`);
        await page.waitForSelector('#download-message:has-text("Downloaded")');
        const bytes = Number(await page.getAttribute('#download-message', 'data-bytes'));
        check(bytes === readFileSync(downloadPath).length, `page says ${bytes} bytes`);
    });

    await step('downloaded file decodes to the expected size', async () => {
        const data = readFileSync(downloadPath);
        const [w, h] = pngSize(data);
        check(w === sizeOf.width && h === sizeOf.height, `PNG header says ${w}x${h}`);
        const shape = cv2Shape(downloadPath);
        check(shape === `${sizeOf.width} ${sizeOf.height} 1`,
            `cv2 decodes it as "${shape}" (want ${sizeOf.width} ${sizeOf.height} 1: gray)`);
        // the same bytes as the CLI with the pipeline the page showed
        checkSameAsCli(data, pipelineText, join(tmp, 'cli.png'));
    });

    await step('screenshot of the finished page', async () => {
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        check(pngSize(readFileSync(SCREENSHOT))[0] > 0, 'empty screenshot');
    });

    await step('no console errors', async () => {
        check(consoleErrors.length === 0, consoleErrors.join('; '));
    });

    await step('account panel shows the signed-in name', async () => {
        const me = await api(base, TOKEN, 'GET', '/api/v1/users/me');
        await page.waitForSelector('#account-panel:not([hidden])');
        const user = await page.locator('#account-user').innerText();
        check(user.includes(me.name) && user.includes(me.role), `panel shows "${user}", account is ${me.name}`);
    });

    await step('account panel shows storage used after the upload', async () => {
        const me = await api(base, TOKEN, 'GET', '/api/v1/users/me');
        check(me.stored_bytes > 0, `the server says ${me.stored_bytes} bytes stored`);
        // refreshed after the job ended: the stored results count too
        await page.waitForFunction((n) => Number(document.getElementById('account-panel').dataset.storedBytes) === n,
            me.stored_bytes);
        const text = await page.locator('#account-storage').innerText();
        check(/^Storage: \d+(\.\d)? (bytes|KB|MB|GB|TB) of /.test(text) && !text.startsWith('Storage: 0 bytes'),
            `storage line "${text}"`);
        const jobs = await page.locator('#account-jobs').innerText();
        check(jobs.startsWith('Active jobs: 0 of '), `jobs line "${jobs}"`);
    });

    await step('upload over the storage quota shows the server message', async () => {
        const me = await api(base, TOKEN, 'GET', '/api/v1/users/me');
        await api(base, TOKEN, 'PATCH', `/api/v1/users/${me.id}`, { quota_bytes: 1000 });
        await page.setInputFiles('#file-input', PHOTO);
        await page.locator('[data-testid="upload-item"][data-state="error"]').waitFor();
        const error = await page.locator('#error-message').innerText();
        check(error.includes('storage quota is used up') && error.includes('quota_bytes'),
            `error line "${error}"`);
        await page.waitForSelector('#account-panel[data-quota-bytes="1000"]');
        const text = await page.locator('#account-storage').innerText();
        check(text.endsWith('of 1000 bytes'), `storage line "${text}"`);
        await api(base, TOKEN, 'PATCH', `/api/v1/users/${me.id}`, { quota_bytes: null });
    });
}

await runCases({ label: 'browser', title: 'browser test', totalMs: TOTAL_MS, tmp }, main);
