// Browser test of user feedback (issue 14, point 4). Starts a real
// `tessera serve`, runs a job through the API, then drives Debian's
// chromium headless: the finished job's rating form (five labelled radio
// buttons, chosen with the keyboard alone) and a comment holding markup,
// sent; the server keeps them; the past-jobs table shows the rating; after
// a reload the job shows the same rating and the comment as plain text
// (no element made from it; screenshot tests/artifacts/webui-feedback.png);
// a job still running offers no form; no console errors.
//
// Prints "ok NAME" / "FAIL NAME: why" per case and "# browser-feedback: N
// passed, N failed", like the other browser tests; every wait is bounded
// (STEP_MS per wait, TOTAL_MS for the whole run).
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
    adminToken, PHOTO, ROOT, STEP_MS, api, check, launchBrowser, runCases, startServer, step, watchConsoleErrors,
} from './lib.mjs';

const TOKEN = adminToken();
const ARTIFACTS = join(ROOT, 'tests', 'artifacts');
const TOTAL_MS = 120000;
const COMMENT = 'Crisp edges <img src=x onerror="window.pwned=1"> & "quotes"\nsecond line';

const tmp = mkdtempSync(join(tmpdir(), 'tessera-feedback-'));

/* Waits (bounded) until fn(arg) is true in the page. */
function until(page, fn, arg) {
    return page.waitForFunction(fn, arg, { timeout: STEP_MS });
}

async function finishedJob(base, image, pipeline) {
    const job = await api(base, TOKEN, 'POST', '/api/v1/jobs', { images: [image], pipeline, name: 'rated job' });
    for (let i = 0; i < 300; i++) {
        const now = await api(base, TOKEN, 'GET', `/api/v1/jobs/${job.id}`);
        if (now.state === 'succeeded')
            return now;
        check(now.state !== 'failed' && now.state !== 'cancelled', `job ${now.state}: ${now.error}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('the job did not finish');
}

async function signIn(page, base) {
    await page.goto(`${base}/`);
    if (await page.getAttribute('body', 'data-auth') !== 'signed-in') {
        await page.fill('#token-input', TOKEN);
        await page.click('#signin-button');
    }
    await page.waitForSelector('body[data-auth="signed-in"]');
}

async function showJob(page, id) {
    const row = page.locator(`[data-testid="job-row"][data-job-id="${id}"]`);
    await row.waitFor();
    await row.locator('[data-testid="job-open"]').click();
    await until(page, (jobId) => document.getElementById('job-panel').dataset.jobId === jobId
        && !document.getElementById('feedback-form').hidden, id);
    return row;
}

async function main() {
    const consoleErrors = [];
    let base = '';
    let page = null;
    let job = null;

    await step('server starts and runs a job', async () => {
        base = await startServer(['--data', join(tmp, 'data')], { TESSERA_ADMIN_TOKEN: TOKEN });
        const response = await fetch(`${base}/api/v1/images?name=chelsea.png`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/octet-stream' },
            body: readFileSync(PHOTO),
        });
        check(response.status === 201, `upload: ${response.status}`);
        job = await finishedJob(base, (await response.json()).id, 'grayscale|canny');
        check(job.feedback === null, 'a new job already has feedback');
    });

    await step('a finished job offers a labelled rating form', async () => {
        const context = await launchBrowser(join(tmp, 'profile'));
        page = context.pages()[0] || await context.newPage();
        watchConsoleErrors(page, consoleErrors);
        await signIn(page, base);
        await showJob(page, job.id);
        for (const [n, name] of [[1, '1 star (poor)'], [4, '4 stars (very good)'], [5, '5 stars (excellent)']])
            check(await page.getByRole('radio', { name }).count() === 1, `no radio named "${name}"`);
        check(await page.getByRole('group', { name: /Rate this result/ }).count() === 1, 'no labelled group');
        check(await page.getByLabel('Comment (optional, plain text)').count() === 1, 'the comment has no label');
        check(await page.isDisabled('#feedback-submit'), 'Send is enabled before a rating is chosen');
        const cell = await page.locator(`[data-testid="job-row"][data-job-id="${job.id}"] [data-testid="job-rating"]`).innerText();
        check(cell === '–', `unrated row shows "${cell}"`);
    });

    await step('rate with the keyboard alone and send', async () => {
        await page.focus('#rating-1');
        await page.keyboard.press('Space');
        for (let i = 0; i < 3; i++)
            await page.keyboard.press('ArrowRight');
        check(await page.isChecked('#rating-4'), 'the arrow keys did not reach 4 stars');
        const choice = await page.locator('#feedback-choice').innerText();
        check(choice === '4 of 5: very good', `choice says "${choice}"`);
        const lit = await page.$$eval('#feedback-stars label.on', (ls) => ls.length);
        check(lit === 4, `${lit} stars lit`);
        await page.keyboard.press('Tab');
        await page.keyboard.type(COMMENT);
        check(await page.inputValue('#feedback-comment') === COMMENT, 'the comment was not typed');
        const count = await page.locator('#feedback-count').innerText();
        check(count === `${[...COMMENT].length} of 2000 characters`, `counter says "${count}"`);
        await page.keyboard.press('Tab');
        check(await page.evaluate(() => document.activeElement.id) === 'feedback-submit', 'Tab does not reach Send');
        await page.keyboard.press('Enter');
        await page.waitForSelector('#feedback-form[data-saved="4"]');
        const status = await page.locator('#feedback-status').innerText();
        check(status.includes('you rated this job 4 of 5'), `status "${status}"`);
        const saved = await api(base, TOKEN, 'GET', `/api/v1/jobs/${job.id}`);
        check(saved.feedback && saved.feedback.rating === 4 && saved.feedback.comment === COMMENT,
            `the server has ${JSON.stringify(saved.feedback)}`);
        const listed = await api(base, TOKEN, 'GET', '/api/v1/feedback');
        check(listed.total === 1 && listed.feedback[0].job === job.id, `admin list ${JSON.stringify(listed)}`);
        await until(page, (id) => {
            const cell = document.querySelector(`[data-testid="job-row"][data-job-id="${id}"] [data-testid="job-rating"]`);
            return cell && cell.dataset.rating === '4';
        }, job.id);
    });

    await step('after a reload the rating and the comment are kept, as text', async () => {
        await page.reload();
        await signIn(page, base);
        const row = page.locator(`[data-testid="job-row"][data-job-id="${job.id}"]`);
        await row.waitFor();
        check(await row.locator('[data-testid="job-rating"]').getAttribute('data-rating') === '4', 'the row lost the rating');
        const rowText = await row.locator('[data-testid="job-rating"]').innerText();
        check(rowText.startsWith('★★★★☆'), `row shows "${rowText}"`);
        await showJob(page, job.id);
        check(await page.isChecked('#rating-4'), 'the form does not show 4 stars');
        check(await page.inputValue('#feedback-comment') === COMMENT, 'the comment was not kept');
        check(await page.locator('#feedback-submit').innerText() === 'Update feedback', 'the button does not offer an update');
        const injected = await page.evaluate(() => document.querySelectorAll('#job-panel img[src="x"], #jobs-body img').length
            + (window.pwned ? 100 : 0));
        check(injected === 0, 'markup from the comment became elements');
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.locator('#feedback-form').screenshot({ path: join(ARTIFACTS, 'webui-feedback.png') });
    });

    await step('changing the rating replaces it', async () => {
        await page.click('label[for="rating-2"]');
        await page.click('#feedback-submit');
        await page.waitForSelector('#feedback-form[data-saved="2"]');
        const listed = await api(base, TOKEN, 'GET', '/api/v1/feedback');
        check(listed.total === 1 && listed.feedback[0].rating === 2 && listed.feedback[0].comment === COMMENT,
            `admin list ${JSON.stringify(listed)}`);
    });

    await step('a job that is still running offers no form', async () => {
        const running = await api(base, TOKEN, 'POST', '/api/v1/jobs', {
            images: [job.items[0].image],
            pipeline: 'resize:scale=4|gaussian-blur:sigma=40|rotate:angle=10|gaussian-blur:sigma=40',
        });
        await page.click('#jobs-refresh-button');
        const row = page.locator(`[data-testid="job-row"][data-job-id="${running.id}"]`);
        await row.waitFor();
        await row.locator('[data-testid="job-open"]').click();
        await until(page, (id) => document.getElementById('job-panel').dataset.jobId === id, running.id);
        // state and form read at one moment: the job may end between two reads
        const seen = await page.evaluate(() => ({
            state: document.getElementById('job-panel').dataset.state,
            hidden: document.getElementById('feedback-form').hidden,
        }));
        check(seen.state === 'queued' || seen.state === 'running', `the job was ${seen.state} already`);
        check(seen.hidden, `the form shows for a ${seen.state} job`);
        await api(base, TOKEN, 'DELETE', `/api/v1/jobs/${running.id}`);
    });

    await step('no console errors', async () => {
        check(consoleErrors.length === 0, consoleErrors.join('; '));
    });
}

await runCases({ label: 'browser-feedback', title: 'feedback browser test', totalMs: TOTAL_MS, tmp }, main);
