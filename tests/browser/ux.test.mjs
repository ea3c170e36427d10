// Browser test of the web UI's error handling, recovery and polish (issue 12
// points 2, 4 and 8), against a real `tessera serve` like ui.test.mjs:
//
// - the favicon is served (200) and linked;
// - three failed uploads (an empty file, a 3 GP header, not an image) are
//   all listed, each with its own reason (the empty one called empty, the
//   limit in GP), and each can be removed (one from the keyboard);
// - a bad parameter is shown next to its field, which is marked
//   aria-invalid and gets the focus: once found by the page, once by the
//   server (whose 400 names the step and the parameter);
// - every control keeps a label; at 1440 and 390 px wide nothing overflows
//   horizontally (screenshots tests/artifacts/webui-1440.png and
//   webui-390.png); no console error;
// - the page follows a job through a restart of the server (same data
//   folder, same port): it says "reconnecting…", then shows the job's true
//   state and reaches "succeeded".
//
// Output and exit status as ui.test.mjs ("# browser-ux: N passed, N failed").
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
    CHROMIUM, PHOTO, ROOT, check, launchBrowser, runCases, startServer, step, stopServers,
    watchConsoleErrors,
} from './lib.mjs';

const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
const TOKEN = randomBytes(32).toString('hex');
const TOTAL_MS = 240000;
const SLOW_PIPELINE = [['gaussian-blur', { sigma: '25' }], ['sharpen', {}], ['rotate', { angle: '17' }]];

const tmp = mkdtempSync(join(tmpdir(), 'tessera-browser-ux-'));

/* Writes big.png (a 4000x3000 photo: a job of several seconds) and huge.png
 * (a PNG header declaring 60000x50000 = 3 GP) into tmp. */
function makeImages() {
    const py = spawnSync('/usr/bin/python3', ['-c', `
import struct, sys, zlib, cv2
img = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR)
assert cv2.imwrite(sys.argv[2], cv2.resize(img, (4000, 3000), interpolation=cv2.INTER_CUBIC))
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack('>IIBBBBB', 60000, 50000, 8, 0, 0, 0, 0)
open(sys.argv[3], 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', ihdr)
                             + chunk(b'IDAT', zlib.compress(b'\\0' * 100)) + chunk(b'IEND', b''))
`, join(ROOT, 'tests', 'data', 'hubble_deep_field.jpg'), join(tmp, 'big.png'), join(tmp, 'huge.png')],
    { encoding: 'utf8', timeout: 60000 });
    check(py.status === 0, `python3/cv2 failed: ${py.stderr}`);
}

/* The accessible-name problems of the page's visible controls. */
function unlabelled(page) {
    return page.evaluate(() => Array.from(document.querySelectorAll('input, select, button, textarea'))
        .filter((e) => e.offsetParent !== null && e.type !== 'hidden')
        .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
            && !e.getAttribute('aria-labelledby') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
        .map((e) => e.id || e.outerHTML.slice(0, 80)));
}

async function addSteps(page, steps) {
    for (const [op, params] of steps) {
        await page.selectOption('#op-select', op);
        await page.click('#add-step-button');
        for (const [name, value] of Object.entries(params))
            await page.fill(`[data-testid="step"][data-op="${op}"] [data-testid="param-${name}"]`, value);
    }
}

async function removeAllSteps(page) {
    while (await page.locator('[data-testid="step-remove"]').count())
        await page.locator('[data-testid="step-remove"]').first().click();
}

/* Checks that nothing overflows at `width` px and keeps a screenshot. */
async function layoutAt(page, width, height) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(200);
    const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    const wide = await page.evaluate(() => Array.from(document.querySelectorAll('body *'))
        .filter((e) => e.offsetParent !== null && e.getBoundingClientRect().right > window.innerWidth + 1)
        .filter((e) => { /* what a scrolling box (a wide table) holds is reachable */
            for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
                if (getComputedStyle(a).overflowX !== 'visible')
                    return false;
            return true;
        })
        .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}.${e.className}`));
    await page.screenshot({ path: join(ARTIFACTS, `webui-${width}.png`), fullPage: true });
    check(scroll <= inner, `at ${width} px the page is ${scroll} px wide (${wide.join(', ')})`);
    check(wide.length === 0, `at ${width} px these stick out: ${wide.join(', ')}`);
}

async function main() {
    const consoleErrors = [];
    const data = join(tmp, 'data');
    let base = '';
    let page = null;

    await step('server starts', async () => {
        check(spawnSync(CHROMIUM, ['--version'], { timeout: 20000 }).status === 0, `${CHROMIUM} does not run`);
        mkdirSync(ARTIFACTS, { recursive: true });
        makeImages();
        base = await startServer(['--data', data], { TESSERA_ADMIN_TOKEN: TOKEN });
    });

    await step('the favicon is served', async () => {
        for (const path of ['/favicon.ico', '/favicon.svg']) {
            const response = await fetch(`${base}${path}`);
            check(response.status === 200, `GET ${path} answered ${response.status}`);
            check((response.headers.get('content-type') || '').startsWith('image/'),
                `GET ${path} is ${response.headers.get('content-type')}`);
        }
    });

    await step('browser opens the page and signs in', async () => {
        const context = await launchBrowser(join(tmp, 'profile'));
        page = context.pages()[0] || await context.newPage();
        watchConsoleErrors(page, consoleErrors);
        page.on('response', (r) => {
            if (/\/favicon\.(ico|svg)$/.test(r.url()) && r.status() !== 200)
                consoleErrors.push(`${r.url()} answered ${r.status()}`);
        });
        await page.goto(`${base}/`);
        check(await page.locator('link[rel="icon"]').count() === 1, 'the page links no icon');
        await page.fill('#token-input', TOKEN);
        await page.click('#signin-button');
        await page.waitForSelector('body[data-auth="signed-in"]');
    });

    await step('three failed uploads are all listed', async () => {
        await page.setInputFiles('#file-input', [
            { name: 'empty.png', mimeType: 'image/png', buffer: Buffer.alloc(0) },
            { name: 'huge.png', mimeType: 'image/png', buffer: readFileSync(join(tmp, 'huge.png')) },
            { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('these are notes, not pixels\n') },
        ]);
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="upload-item"][data-state="error"]').length === 3);
        const error = await page.textContent('#error-message');
        check(/3 of 3 files were not uploaded/.test(error), `error line: ${error}`);
        const texts = await page.locator('[data-testid="upload-item"][data-state="error"] [data-testid="upload-info"]').allTextContents();
        check(texts.some((t) => t.startsWith('notes.png') && /unrecognised image format/.test(t)),
            `no reason for notes.png: ${texts.join(' | ')}`);
    });

    await step('an empty file is called empty', async () => {
        const text = await page.textContent('[data-testid="upload-item"][data-state="error"]:has-text("empty.png") [data-testid="upload-info"]');
        check(/^empty\.png: the file is empty \(0 bytes\)/.test(text), `empty.png: ${text}`);
    });

    await step('a limit is given in GP', async () => {
        const text = await page.textContent('[data-testid="upload-item"][data-state="error"]:has-text("huge.png") [data-testid="upload-info"]');
        check(/3 GP is more than the limit of 2 GP/.test(text), `huge.png: ${text}`);
        check(!/\d{6,}/.test(text), `huge.png: raw numbers in ${text}`);
    });

    await step('failed uploads can be removed, from the keyboard too', async () => {
        const remove = page.locator('[data-testid="upload-remove"]');
        check(await remove.count() === 3, `${await remove.count()} Remove buttons`);
        await remove.first().focus();
        await page.keyboard.press('Enter');
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="upload-item"]').length === 2);
        const focused = await page.evaluate(() => document.activeElement && document.activeElement.dataset.testid);
        check(focused === 'upload-remove', `focus went to ${focused}, not the next Remove button`);
        await remove.first().click();
        await remove.first().click();
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="upload-item"]').length === 0);
    });

    await step('a bad field is marked where it is (the page finds it)', async () => {
        await page.setInputFiles('#file-input', PHOTO);
        await page.waitForSelector('[data-testid="upload-item"][data-state="done"]');
        await addSteps(page, [['grayscale', {}], ['gaussian-blur', { sigma: '2000' }]]);
        await page.click('#check-button');
        const sigma = '[data-testid="step"][data-op="gaussian-blur"] [data-param="sigma"]';
        await page.waitForSelector(`${sigma} [data-testid="field-error"]`);
        const text = await page.textContent(`${sigma} [data-testid="field-error"]`);
        check(/Step 2 \(gaussian-blur\): sigma must be a number from 0 to 100/.test(text), `message: ${text}`);
        check(await page.getAttribute(`${sigma} input`, 'aria-invalid') === 'true', 'sigma is not marked aria-invalid');
        check(await page.locator(`${sigma} input`).evaluate((e) => e === document.activeElement), 'sigma has no focus');
        check(await page.locator('#error-message').isHidden(), 'the message went to the top of the page too');
    });

    await step('a bad field is marked where it is (the server finds it)', async () => {
        const sigma = '[data-testid="step"][data-op="gaussian-blur"] [data-param="sigma"]';
        await page.locator(`${sigma} input`).evaluate((e) => e.removeAttribute('max')); // past the page's own check
        await page.fill(`${sigma} input`, '2000');
        check(await page.locator(`${sigma} [data-testid="field-error"]`).count() === 0, 'editing the field kept the mark');
        const [response] = await Promise.all([
            page.waitForResponse((r) => r.url().endsWith('/api/v1/pipelines/validate')),
            page.click('#check-button'),
        ]);
        const body = await response.json();
        check(response.status() === 400 && body.error.step === 2 && body.error.param === 'sigma',
            `validate answered ${response.status()} ${JSON.stringify(body)}`);
        await page.waitForSelector(`${sigma} [data-testid="field-error"]`);
        const text = await page.textContent(`${sigma} [data-testid="field-error"]`);
        check(text.includes(body.error.message), `message: ${text}`);
        check(await page.locator(`${sigma} input`).evaluate((e) => e === document.activeElement), 'sigma has no focus');
        await page.fill(`${sigma} input`, '2');
        await page.click('#check-button');
        await page.waitForSelector('#confirm-panel:not([hidden])');
    });

    await step('every control keeps a label', async () => {
        const bad = await unlabelled(page);
        check(bad.length === 0, `controls without a label: ${bad.join(', ')}`);
    });

    await step('layout works at 1440 px', () => layoutAt(page, 1440, 900));
    await step('layout works at 390 px', () => layoutAt(page, 390, 844));

    await step('no console errors', async () => {
        await page.setViewportSize({ width: 1280, height: 900 });
        // chromium logs each 4xx answer; those this test provoked on purpose are expected
        // (the live preview of the bad field is refused like its check)
        const provoked = /^Failed to load resource: the server responded with a status of 4\d\d .*\((http:\/\/[^/]+)\/api\/v1\/(images\?name=(empty|huge|notes)\.png|pipelines\/validate|images\/[0-9a-f]{32}\/preview)\)$/;
        const errors = consoleErrors.filter((e) => !provoked.test(e));
        check(errors.length === 0, `console errors: ${errors.join('; ')}`);
    });

    await step('the page follows a job through a server restart', async () => {
        await removeAllSteps(page);
        await page.setInputFiles('#file-input', join(tmp, 'big.png'));
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="upload-item"][data-state="done"]').length === 2);
        await addSteps(page, SLOW_PIPELINE);
        await page.click('#check-button');
        await page.waitForSelector('#confirm-panel:not([hidden])');
        await page.click('#run-button');
        await page.waitForSelector('#job-panel[data-state="running"]');
        await page.waitForFunction(() => Number(document.querySelector('#progress').getAttribute('aria-valuenow')) >= 2);
        const jobId = await page.getAttribute('#job-panel', 'data-job-id');
        await stopServers();
        await page.waitForSelector('#job-connection:not([hidden])');
        const line = await page.textContent('#job-connection');
        check(/reconnecting…/.test(line), `connection line: ${line}`);
        const again = await startServer(['--data', data], { TESSERA_ADMIN_TOKEN: TOKEN }, new URL(base).host);
        check(again === base, `restarted at ${again}, not ${base}`);
        await page.waitForSelector(`#job-panel[data-job-id="${jobId}"][data-state="succeeded"]`, { timeout: 120000 });
        check(await page.locator('#job-connection').isHidden(), 'still says reconnecting');
        check(await page.getAttribute('#progress', 'aria-valuenow') === '100', 'progress is not 100');
        const truth = await (await fetch(`${base}/api/v1/jobs/${jobId}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
        check(truth.state === 'succeeded', `the server says ${truth.state}`);
    });
}

runCases({ label: 'browser-ux', title: 'browser ux test', totalMs: TOTAL_MS, tmp }, main);
