// Browser test of animated inputs in the web UI (issue 15 point 1). Starts a
// real `tessera serve` with tests/data/anim.gif stored (3 frames of
// 128x128), then drives Debian's chromium headless: the library says it is
// an animation; PNG output without a frame is explained at the frame field
// before the server is asked; frame 1 into PNG gives the bytes of
// `tessera process --frame 1`; every frame into GIF plays in the result's
// preview (its picture changes; WebCodecs' ImageDecoder counts 3 frames);
// a saved pipeline keeps the frame and loads it back into the field.
//
// Prints "ok NAME" / "FAIL NAME: why" per case and "# browser-animation: N
// passed, N failed", like the other browser tests; every wait is bounded.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
    adminToken, BIN, ROOT, STEP_MS, api, check, launchBrowser, runCases, startServer, step,
    watchConsoleErrors,
} from './lib.mjs';

const TOKEN = adminToken();
const TOTAL_MS = 150000;
const ANIM = join(ROOT, 'tests', 'data', 'anim.gif');

const tmp = mkdtempSync(join(tmpdir(), 'tessera-animation-'));

function until(page, fn, arg) {
    return page.waitForFunction(fn, arg, { timeout: STEP_MS });
}

async function resultBytes(base, job) {
    const response = await fetch(`${base}/api/v1/jobs/${job.id}/result/${job.items[0].image}`,
        { headers: { Authorization: `Bearer ${TOKEN}` } });
    check(response.status === 200, `result of ${job.id}: ${response.status}`);
    return Buffer.from(await response.arrayBuffer());
}

/* Check, Run, and the job the panel followed to the end. */
async function runChecked(page, base) {
    const old = await page.getAttribute('#job-panel', 'data-job-id');
    await page.click('#check-button');
    await page.waitForSelector('#confirm-panel:not([hidden])');
    await page.click('#run-button');
    await until(page, (before) => {
        const panel = document.getElementById('job-panel');
        return panel.dataset.jobId && panel.dataset.jobId !== before && panel.dataset.state === 'succeeded';
    }, old);
    return api(base, TOKEN, 'GET', `/api/v1/jobs/${await page.getAttribute('#job-panel', 'data-job-id')}`);
}

async function main() {
    const consoleErrors = [];
    let base = '';
    let page = null;
    let image = '';

    await step('server starts with an animated GIF stored', async () => {
        base = await startServer(['--data', join(tmp, 'data')], { TESSERA_ADMIN_TOKEN: TOKEN });
        const response = await fetch(`${base}/api/v1/images?name=anim.gif`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/octet-stream' },
            body: readFileSync(ANIM),
        });
        const doc = await response.json();
        image = doc.id;
        check(response.status === 201 && image && doc.frames === 3, `upload: ${JSON.stringify(doc)}`);
    });

    await step('sign in: the library says it is an animation', async () => {
        const context = await launchBrowser(join(tmp, 'profile'));
        page = context.pages()[0] || await context.newPage();
        watchConsoleErrors(page, consoleErrors);
        await page.goto(`${base}/`);
        await page.fill('#token-input', TOKEN);
        await page.click('#signin-button');
        await page.waitForSelector('body[data-auth="signed-in"]');
        const card = page.locator(`[data-testid="upload-item"][data-image-id="${image}"]`);
        await card.waitFor();
        const text = await card.innerText();
        check(text.includes('128×128, 3 frames'), `card "${text}"`);
        await card.locator('[data-testid="upload-use"]').check();
    });

    await step('PNG without a frame: explained at the frame field, nothing sent', async () => {
        await page.selectOption('#op-select', 'invert');
        await page.click('#add-step-button');
        await page.selectOption('#output-format', 'png');
        let asked = 0;
        const count = (request) => { asked += request.url().includes('/pipelines/validate'); };
        page.on('request', count);
        await page.click('#check-button');
        await page.waitForSelector('#output-frame-error:not([hidden])');
        page.off('request', count);
        const message = await page.locator('#output-frame-error').innerText();
        check(message.includes('anim.gif is an animation of 3 frames and PNG holds one: give the frame '
            + 'to take (0 to 2), or choose GIF or WebP to keep them all'), `message "${message}"`);
        check(await page.getAttribute('#output-frame', 'aria-invalid') === 'true', 'the field is not marked');
        check(await page.evaluate(() => document.activeElement.id) === 'output-frame', 'the field has no focus');
        check(await page.locator('#confirm-panel').isHidden(), 'the confirmation is shown');
        check(asked === 0, 'the server was asked anyway');
        await page.fill('#output-frame', '3');
        await page.click('#check-button');
        await until(page, () => document.getElementById('output-frame-error').textContent.includes('frame 3 does not exist (0 to 2)'));
    });

    await step('frame 1 into PNG: the bytes of tessera process --frame 1', async () => {
        await page.fill('#output-frame', '1');
        const job = await runChecked(page, base);
        check(await page.locator('#output-frame-error').isHidden(), 'the old error stays');
        const summary = await page.locator('#confirm-summary').innerText();
        check(summary.includes('output PNG, frame 1 of animations'), `summary "${summary}"`);
        check(job.output.frame === 1 && job.output.format === 'png', `job output ${JSON.stringify(job.output)}`);
        const versions = await page.locator('#job-versions').innerText();
        check(versions.includes('png, quality 85, tile 256, frame 1'), `#job-versions "${versions}"`);
        const out = join(tmp, 'frame1.png');
        const cli = spawnSync(BIN, ['process', '-p', 'invert', ANIM, '--frame', '1', '-o', out, '--format', 'png'],
            { encoding: 'utf8', timeout: 60000 });
        check(cli.status === 0, `tessera process failed: ${cli.stderr}`);
        check(readFileSync(out).equals(await resultBytes(base, job)), 'the result differs from tessera process --frame 1');
    });

    await step('every frame into GIF: the preview plays an animation of 3 frames', async () => {
        await page.fill('#output-frame', '');
        await page.selectOption('#output-format', 'gif');
        const job = await runChecked(page, base);
        check(job.output.frame === undefined, `job output ${JSON.stringify(job.output)}`);
        const after = page.locator(`.result-pair[data-image="${image}"] [data-testid="preview-after"]`);
        await after.waitFor();
        await until(page, () => {
            const img = document.querySelector('[data-testid="preview-after"]');
            return img && img.complete && img.naturalWidth > 0;
        });
        /* the browser decodes the result as 3 frames (WebCodecs' ImageDecoder
         * on the bytes the <img> shows; the page's CSP keeps fetch() off its
         * blob: URL) ... */
        const bytes = [...await resultBytes(base, job)];
        const frames = await page.evaluate(async (data) => {
            const decoder = new ImageDecoder({ data: new Uint8Array(data), type: 'image/gif' });
            await decoder.tracks.ready;
            await decoder.completed;
            const track = decoder.tracks.selectedTrack;
            const img = document.querySelector('[data-testid="preview-after"]');
            return { count: track.frameCount, animated: track.animated, width: img.naturalWidth,
                blob: img.src.startsWith('blob:') };
        }, bytes);
        /* ... and the <img> plays them: its picture changes within 2 s */
        const first = await after.screenshot();
        let changed = false;
        for (let i = 0; i < 20 && !changed; i++) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            changed = !(await after.screenshot()).equals(first);
        }
        check(changed, 'the preview does not play: its picture stayed the same for 2 s');
        check(frames.count === 3 && frames.animated && frames.width === 128 && frames.blob, `preview ${JSON.stringify(frames)}`);
        const caption = await page.locator(`.result-pair[data-image="${image}"] figure`).nth(1).innerText();
        check(caption.includes('After: 128×128, GIF, animated (3 frames)'), `caption "${caption}"`);
    });

    await step('a saved pipeline keeps the frame and loads it back', async () => {
        await page.selectOption('#output-format', 'png');
        await page.fill('#output-frame', '2');
        await page.fill('#saved-name', 'last-frame');
        await page.click('#saved-save');
        await until(page, () => document.getElementById('status-message').textContent.startsWith('Saved last-frame as version 1'));
        const saved = await api(base, TOKEN, 'GET', '/api/v1/pipelines/saved/last-frame');
        check(saved.output.frame === 2 && saved.output.format === 'png', `saved ${JSON.stringify(saved.output)}`);
        await page.fill('#output-frame', '');
        await page.selectOption('#saved-select', 'last-frame');
        await page.click('#saved-load');
        await until(page, () => document.getElementById('status-message').textContent.startsWith('Loaded last-frame version 1'));
        check(await page.locator('#output-frame').inputValue() === '2', 'the frame was not loaded');
    });

    await step('no console errors', async () => {
        check(consoleErrors.length === 0, consoleErrors.join('; '));
    });
}

await runCases({ label: 'browser-animation', title: 'animation browser test', totalMs: TOTAL_MS, tmp }, main);
