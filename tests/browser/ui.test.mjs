// Browser test of the tessera web UI (issue 3 point 8).
//
// Starts a real `tessera serve` (TESSERA_BIN, default build/src/cli/tessera)
// on a random loopback port with a fresh data directory and a known admin
// token, drives Debian's chromium headless through playwright-core, and
// walks a user's path: sign in, upload tests/data/chelsea.png, build a
// three-step pipeline (grayscale, gaussian-blur with sigma, rotate with the
// angle slider), check it, run it, watch the progress bar reach 100%,
// download the result and decode it. The finished page is kept as
// tests/artifacts/webui-finished.png.
//
// Prints one line per case, "ok NAME" or "FAIL NAME: why" (cases after a
// failure print "skip NAME"), then "# browser: N passed, N failed". Exit
// status 0 only when every case passed. The whole run is bounded by
// TOTAL_MS; the server, the browser and the temp folders are always
// cleaned up.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = (() => {
    const b = process.env.TESSERA_BIN || 'build/src/cli/tessera';
    return isAbsolute(b) ? b : join(ROOT, b);
})();
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PHOTO = join(ROOT, 'tests', 'data', 'chelsea.png');
const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
const SCREENSHOT = join(ARTIFACTS, 'webui-finished.png');
const TOKEN = randomBytes(32).toString('hex');
const TOTAL_MS = 150000;
const STEP_MS = 30000;
const SIGMA = '2';
const ANGLE = 30;

const results = [];
let failed = false;
const tmp = mkdtempSync(join(tmpdir(), 'tessera-browser-'));
let server = null;
let context = null;

/* Runs one named case unless an earlier one failed; prints its line. */
async function step(name, fn) {
    if (failed) {
        console.log(`skip ${name}`);
        return;
    }
    try {
        await fn();
        results.push([name, true]);
        console.log(`ok   ${name}`);
    } catch (err) {
        failed = true;
        results.push([name, false]);
        const why = String((err && err.message) || err).split('\n').slice(0, 6).join(' | ');
        console.log(`FAIL ${name}: ${why}`);
    }
}

function check(cond, message) {
    if (!cond)
        throw new Error(message);
}

/* Starts the server; resolves with its base URL once it prints the port. */
function startServer() {
    return new Promise((resolveStart, reject) => {
        const proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data', join(tmp, 'data')], {
            env: { ...process.env, TESSERA_ADMIN_TOKEN: TOKEN },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        server = proc;
        let log = '';
        proc.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
        const timer = setTimeout(() => reject(new Error(`server did not start: ${log}`)), 20000);
        proc.on('error', (err) => { clearTimeout(timer); reject(err); });
        proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}): ${log}`)); });
        createInterface({ input: proc.stdout }).on('line', (line) => {
            const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
            if (m) {
                clearTimeout(timer);
                resolveStart(m[1]);
            }
        });
    });
}

async function stopServer() {
    if (!server || server.exitCode !== null || server.signalCode !== null)
        return;
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
}

async function api(base, method, path, body) {
    const response = await fetch(base + path, {
        method,
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    check(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text);
}

/* Width and height from a PNG's IHDR chunk. */
function pngSize(buf) {
    check(buf.length > 24 && buf.toString('latin1', 1, 4) === 'PNG' && buf.toString('latin1', 12, 16) === 'IHDR',
        'the download is not a PNG file');
    return [buf.readUInt32BE(16), buf.readUInt32BE(20)];
}

async function main() {
    const consoleErrors = [];
    const sizeOf = { width: 0, height: 0 };
    let base = '';
    let page = null;
    let pipelineText = '';
    let downloadPath = '';
    let jobId = '';

    await step('server starts', async () => {
        check(spawnSync(CHROMIUM, ['--version'], { timeout: 20000 }).status === 0,
            `${CHROMIUM} does not run`);
        base = await startServer();
        const health = await fetch(`${base}/healthz`);
        check(health.status === 200, `/healthz answered ${health.status}`);
    });

    await step('browser opens the page', async () => {
        context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
            executablePath: CHROMIUM,
            headless: true,
            acceptDownloads: true,
            viewport: { width: 1280, height: 900 },
            args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync'],
            timeout: STEP_MS,
        });
        context.setDefaultTimeout(STEP_MS);
        page = context.pages()[0] || await context.newPage();
        page.on('console', (msg) => {
            if (msg.type() !== 'error')
                return;
            const url = (msg.location() && msg.location().url) || '';
            if (/\/favicon\.ico$/.test(url) && /404/.test(msg.text()))
                return;
            consoleErrors.push(`${msg.text()} (${url})`);
        });
        page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`));
        const response = await page.goto(`${base}/`);
        check(response.status() === 200, `GET / answered ${response.status()}`);
        await page.waitForSelector('body[data-auth="signed-out"]');
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
        const stored = await api(base, 'GET', `/api/v1/images/${imageId}`);
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
        const expected = await api(base, 'POST', '/api/v1/pipelines/validate',
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
        const job = await api(base, 'GET', `/api/v1/jobs/${jobId}`);
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
        const py = spawnSync('/usr/bin/python3', ['-c',
            'import sys, cv2; m = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED); '
            + 'print("none" if m is None else "%d %d %d" % (m.shape[1], m.shape[0], 1 if m.ndim == 2 else m.shape[2]))',
            downloadPath], { encoding: 'utf8', timeout: 30000 });
        check(py.status === 0, `python3/cv2 failed: ${py.stderr}`);
        check(py.stdout.trim() === `${sizeOf.width} ${sizeOf.height} 1`,
            `cv2 decodes it as "${py.stdout.trim()}" (want ${sizeOf.width} ${sizeOf.height} 1: gray)`);
        // the same bytes as the CLI with the pipeline the page showed
        const cliOut = join(tmp, 'cli.png');
        const cli = spawnSync(BIN, ['process', '-p', pipelineText, PHOTO, '-o', cliOut, '--format', 'png'],
            { encoding: 'utf8', timeout: 60000 });
        check(cli.status === 0, `tessera process failed: ${cli.stderr}`);
        check(readFileSync(cliOut).equals(data), 'the download differs from `tessera process` output');
    });

    await step('screenshot of the finished page', async () => {
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        check(pngSize(readFileSync(SCREENSHOT))[0] > 0, 'empty screenshot');
    });

    await step('no console errors', async () => {
        check(consoleErrors.length === 0, consoleErrors.join('; '));
    });
}

async function cleanup() {
    if (context)
        await context.close().catch(() => {});
    await stopServer().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
}

const guard = setTimeout(() => {
    console.log(`FAIL timeout: the browser test took more than ${TOTAL_MS / 1000} s`);
    if (server)
        server.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
    process.exit(1);
}, TOTAL_MS);

try {
    await main();
} catch (err) {
    failed = true;
    results.push(['browser test', false]);
    console.log(`FAIL browser test: ${err && err.stack}`);
} finally {
    await cleanup();
    clearTimeout(guard);
}
const passed = results.filter((r) => r[1]).length;
console.log(`# browser: ${passed} passed, ${results.length - passed} failed`);
process.exit(failed ? 1 : 0);
