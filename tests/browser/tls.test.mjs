// Browser test of the web UI over TLS against a test CA (issue 5 point 3).
//
// Makes a throw-away CA and a server certificate for 127.0.0.1 and
// localhost with the openssl CLI (as tests/service/test_tls.py does), starts
// `tessera serve --tls-cert --tls-key` with a fresh data directory, and
// trusts the CA the way a user's Chromium on Linux does: a fresh NSS
// database in a temp HOME ($HOME/.pki/nssdb, filled with certutil), with
// chromium started with that HOME. No certificate errors are ignored.
//
// Cases: a browser whose NSS database lacks the CA refuses the site
// (ERR_CERT_AUTHORITY_INVALID), so the trust comes from the CA; with the CA
// the page loads over TLS 1.2+ with HSTS and CSP on the document, a user
// signs in, uploads tests/data/chelsea.png, runs grayscale to 100% and
// downloads a result that decodes (and equals `tessera process`); the page
// made no http:// request.
//
// Output as ui.test.mjs: "ok   NAME" / "FAIL NAME: why" / "skip NAME",
// then "# browser-tls: N passed, N failed"; exit 0 only when all passed.
// Needs openssl and certutil (Debian's libnss3-tools): scripts/run_tests.py
// passes the ones tests/tools.py found and checked as $OPENSSL and $CERTUTIL.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
    CHROMIUM, PHOTO, check, checkSameAsCli, cv2Shape, launchBrowser, pngSize, runCases, startServer,
    step, watchConsoleErrors,
} from './lib.mjs';

const OPENSSL = process.env.OPENSSL || '/usr/bin/openssl';
const CERTUTIL = process.env.CERTUTIL || '/usr/bin/certutil';
const TOKEN = randomBytes(32).toString('hex');
const TOTAL_MS = 150000;
const CSP = "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'";

const tmp = mkdtempSync(join(tmpdir(), 'tessera-browser-tls-'));
const pki = join(tmp, 'pki');

function run(cmd, args, cwd) {
    const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 30000 });
    check(r.status === 0, `${cmd} ${args.slice(0, 2).join(' ')}: ${r.error || r.stderr}`);
    return r.stdout;
}

/* ca.pem, server.pem (leaf) and server.key in pki/, as test_tls.py's make_pki. */
function makePki() {
    mkdirSync(pki);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    run(OPENSSL, ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
        '-subj', '/CN=tessera test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], pki);
    run(OPENSSL, ['req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr',
        '-subj', '/CN=localhost'], pki);
    writeFileSync(join(pki, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n'
        + 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
    run(OPENSSL, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
        '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf'], pki);
}

/* A temp HOME with a fresh NSS database (holding the test CA when trustCa);
 * returns chromium's environment: this one with HOME replaced. */
function makeHome(name, trustCa) {
    const home = join(tmp, name);
    const db = `sql:${join(home, '.pki', 'nssdb')}`;
    mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
    run(CERTUTIL, ['-d', db, '-N', '--empty-password'], home);
    if (trustCa)
        run(CERTUTIL, ['-A', '-d', db, '-n', 'tessera-test-ca', '-t', 'C,,', '-i', join(pki, 'ca.pem')], home);
    const listed = run(CERTUTIL, ['-L', '-d', db], home);
    check(listed.includes('tessera-test-ca') === trustCa, `certutil -L in ${name}: ${listed}`);
    return { ...process.env, HOME: home };
}

/* GET over HTTPS from Node, verifying against the test CA only. */
function getWithCa(url, ca) {
    return new Promise((resolveGet, reject) => {
        const req = httpsGet(url, { ca, timeout: 10000 }, (res) => {
            res.resume();
            res.on('end', () => resolveGet(res.statusCode));
        });
        req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
        req.on('error', reject);
    });
}

async function main() {
    const consoleErrors = [];
    const plainRequests = [];
    const sizeOf = { width: 0, height: 0 };
    let base = '';
    let trustingEnv = null;
    let plainEnv = null;
    let page = null;
    let response = null;
    let pipelineText = '';
    let downloadPath = '';

    await step('test CA, server certificate and NSS databases', async () => {
        check(spawnSync(CHROMIUM, ['--version'], { timeout: 20000 }).status === 0,
            `${CHROMIUM} does not run`);
        makePki();
        trustingEnv = makeHome('home-ca', true);
        plainEnv = makeHome('home-plain', false);
    });

    await step('server starts over TLS', async () => {
        base = await startServer(['--data', join(tmp, 'data'), '--tls-cert', join(pki, 'server.pem'),
            '--tls-key', join(pki, 'server.key')], { TESSERA_ADMIN_TOKEN: TOKEN });
        check(base.startsWith('https://'), `the server listens on ${base}`);
        const status = await getWithCa(`${base}/healthz`, readFileSync(join(pki, 'ca.pem')));
        check(status === 200, `/healthz answered ${status}`);
    });

    await step('browser without the CA refuses the certificate', async () => {
        const context = await launchBrowser(join(plainEnv.HOME, 'profile'), plainEnv);
        const p = context.pages()[0] || await context.newPage();
        let error = null;
        try {
            await p.goto(`${base}/`);
        } catch (err) {
            error = err;
        }
        await context.close();
        check(error, 'the page loaded without the test CA');
        check(/net::ERR_CERT_AUTHORITY_INVALID/.test(error.message), `not a CA error: ${error.message}`);
    });

    await step('browser with the CA opens the page over https', async () => {
        const context = await launchBrowser(join(trustingEnv.HOME, 'profile'), trustingEnv);
        context.on('request', (r) => {
            if (/^http:/i.test(r.url()))
                plainRequests.push(r.url());
        });
        page = context.pages()[0] || await context.newPage();
        watchConsoleErrors(page, consoleErrors);
        response = await page.goto(`${base}/`);
        check(response.status() === 200, `GET / answered ${response.status()}`);
        check(page.url().startsWith('https://'), `the page is at ${page.url()}`);
        await page.waitForSelector('body[data-auth="signed-out"]');
    });

    await step('document has HSTS and CSP headers', async () => {
        const headers = await response.allHeaders();
        check(headers['strict-transport-security'] === 'max-age=31536000',
            `Strict-Transport-Security: ${headers['strict-transport-security']}`);
        check(headers['content-security-policy'] === CSP,
            `Content-Security-Policy: ${headers['content-security-policy']}`);
    });

    await step('TLS 1.2 or later, certificate from the test CA', async () => {
        const details = await response.securityDetails();
        check(details, 'no security details for the page');
        console.log(`# negotiated: ${details.protocol}, issuer ${details.issuer}, subject ${details.subjectName}`);
        check(/^TLS 1\.[23]$/.test(details.protocol), `protocol ${details.protocol}`);
        check(details.issuer === 'tessera test CA', `issuer ${details.issuer}`);
    });

    await step('sign in with the token', async () => {
        await page.fill('#token-input', TOKEN);
        await page.click('#signin-button');
        await page.waitForSelector('body[data-auth="signed-in"]');
        await page.waitForSelector('#op-select option[value="grayscale"]', { state: 'attached' });
    });

    await step('upload a real photo', async () => {
        [sizeOf.width, sizeOf.height] = pngSize(readFileSync(PHOTO));
        await page.setInputFiles('#file-input', PHOTO);
        const item = page.locator('[data-testid="upload-item"][data-state="done"]');
        await item.waitFor();
        const info = await item.locator('[data-testid="upload-info"]').innerText();
        check(info.includes(String(sizeOf.width)) && info.includes(String(sizeOf.height)),
            `confirmation does not give the size: "${info}"`);
    });

    await step('run grayscale: progress bar reaches 100%', async () => {
        await page.selectOption('#op-select', 'grayscale');
        await page.click('#add-step-button');
        await page.click('#check-button');
        await page.waitForSelector('#confirm-panel:not([hidden])');
        pipelineText = (await page.locator('#pipeline-text').innerText()).trim();
        check(pipelineText.includes('grayscale'), `page shows "${pipelineText}"`);
        await page.click('#run-button');
        await page.waitForSelector('#progress[aria-valuenow="100"]');
        await page.waitForSelector('#job-panel[data-state="succeeded"]');
        const text = await page.locator('#progress-text').innerText();
        check(text.startsWith('100%'), `progress text "${text}"`);
    });

    await step('download the result (a gray PNG, same as the CLI)', async () => {
        await page.waitForSelector('#download-button:visible');
        const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-button')]);
        check(/^(blob:)?https:\/\//.test(download.url()), `downloaded from ${download.url()}`);
        downloadPath = join(tmp, download.suggestedFilename());
        await download.saveAs(downloadPath);
        check(!(await download.failure()), `download failed: ${await download.failure()}`);
        await page.waitForSelector('#download-message:has-text("Downloaded")');
        const data = readFileSync(downloadPath);
        const [w, h] = pngSize(data);
        check(w === sizeOf.width && h === sizeOf.height, `PNG header says ${w}x${h}`);
        const shape = cv2Shape(downloadPath);
        check(shape === `${w} ${h} 1`, `cv2 decodes it as "${shape}" (want ${w} ${h} 1: gray)`);
        checkSameAsCli(data, pipelineText, join(tmp, 'cli.png'));
    });

    await step('no http:// requests', async () => {
        check(plainRequests.length === 0, `plain requests: ${plainRequests.join(' ')}`);
    });

    await step('no console errors', async () => {
        check(consoleErrors.length === 0, consoleErrors.join('; '));
    });
}

await runCases({ label: 'browser-tls', title: 'browser TLS test', totalMs: TOTAL_MS, tmp }, main);
