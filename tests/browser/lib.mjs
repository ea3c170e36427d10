// Shared by the browser tests (ui.test.mjs, tls.test.mjs): paths, the case
// runner (one line per case, "ok   NAME" / "FAIL NAME: why" / "skip NAME",
// then "# LABEL: N passed, N failed"), starting and stopping `tessera serve`,
// launching Debian's chromium, and PNG checks. Each test file is its own
// process, so the runner's state lives in this module.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = (() => {
    const b = process.env.TESSERA_BIN || 'build/src/cli/tessera';
    return isAbsolute(b) ? b : join(ROOT, b);
})();
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const PHOTO = join(ROOT, 'tests', 'data', 'chelsea.png');
export const STEP_MS = 30000;
// TESSERA_URL with TESSERA_TOKEN (an admin's): the tests drive a server that
// already runs instead of starting one (tests/ha: three coordinators behind
// HAProxy); startServer() then answers that address.
export const EXTERNAL = process.env.TESSERA_URL || '';

/* The admin token of the server under test: TESSERA_TOKEN for an external
 * one, else a fresh random one that startServer's caller passes on. */
export function adminToken() {
    return EXTERNAL ? (process.env.TESSERA_TOKEN || '') : randomBytes(32).toString('hex');
}

const results = [];
let failed = false;
const servers = [];
const contexts = [];

/* Runs one named case unless an earlier one failed; prints its line. */
export async function step(name, fn) {
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

export function check(cond, message) {
    if (!cond)
        throw new Error(message);
}

/* Starts `tessera serve --listen LISTEN ARGS...` (LISTEN default
 * 127.0.0.1:0, a free port) with ENV added to this process's; resolves with
 * its base URL (http:// or https://) once it prints the port. */
export function startServer(args, env, listen = '127.0.0.1:0') {
    if (EXTERNAL)
        return Promise.resolve(EXTERNAL);
    return new Promise((resolveStart, reject) => {
        const proc = spawn(BIN, ['serve', '--listen', listen, ...args], {
            env: { ...process.env, ...env },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        servers.push(proc);
        let log = '';
        proc.stderr.on('data', (d) => { log = (log + d).slice(-4000); });
        const timer = setTimeout(() => reject(new Error(`server did not start: ${log}`)), 20000);
        proc.on('error', (err) => { clearTimeout(timer); reject(err); });
        proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}): ${log}`)); });
        createInterface({ input: proc.stdout }).on('line', (line) => {
            const m = /listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(line);
            if (m) {
                clearTimeout(timer);
                resolveStart(m[1]);
            }
        });
    });
}

/* Stops every server started so far (SIGTERM, then SIGKILL after 10 s). */
export async function stopServers() {
    for (const proc of servers)
        await stopServer(proc);
}

async function stopServer(proc) {
    if (proc.exitCode !== null || proc.signalCode !== null)
        return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
}

/* Headless chromium with its profile in userDataDir; env (optional) is the
 * browser's whole environment (e.g. a temp HOME for its NSS database). */
export async function launchBrowser(userDataDir, env) {
    const context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: CHROMIUM,
        headless: true,
        acceptDownloads: true,
        viewport: { width: 1280, height: 900 },
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        env,
        timeout: STEP_MS,
    });
    contexts.push(context);
    context.setDefaultTimeout(STEP_MS);
    return context;
}

/* Collects the page's console errors (but a missing favicon) and uncaught exceptions. */
export function watchConsoleErrors(page, errors) {
    page.on('console', (msg) => {
        if (msg.type() !== 'error')
            return;
        const url = (msg.location() && msg.location().url) || '';
        if (/\/favicon\.ico$/.test(url) && /404/.test(msg.text()))
            return;
        errors.push(`${msg.text()} (${url})`);
    });
    page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
}

/* Records each script the page fetches as {path, status, type} in `scripts`,
 * and each request that failed outright as a "failed: URL (why)" line. */
export function watchScripts(page, scripts) {
    page.on('response', (response) => {
        if (response.request().resourceType() !== 'script')
            return;
        scripts.push({ path: new URL(response.url()).pathname, status: response.status(),
            type: response.headers()['content-type'] || '' });
    });
    page.on('requestfailed', (request) => {
        if (request.resourceType() === 'script')
            scripts.push({ path: `failed: ${request.url()} (${request.failure().errorText})`, status: 0, type: '' });
    });
}

/* The page's script files: /app.js and /js/NAME.js for each module in src/server/web/js. */
export function webScripts() {
    const modules = readdirSync(join(ROOT, 'src', 'server', 'web', 'js')).filter((n) => n.endsWith('.js'));
    return ['/app.js', ...modules.map((n) => `/js/${n}`)].sort();
}

export async function api(base, token, method, path, body) {
    const response = await fetch(base + path, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    check(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text);
}

/* Width and height from a PNG's IHDR chunk. */
export function pngSize(buf) {
    check(buf.length > 24 && buf.toString('latin1', 1, 4) === 'PNG' && buf.toString('latin1', 12, 16) === 'IHDR',
        'the download is not a PNG file');
    return [buf.readUInt32BE(16), buf.readUInt32BE(20)];
}

/* "WIDTH HEIGHT CHANNELS" as python3-opencv decodes the file, or "none". */
export function cv2Shape(path) {
    const py = spawnSync('/usr/bin/python3', ['-c',
        'import sys, cv2; m = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED); '
        + 'print("none" if m is None else "%d %d %d" % (m.shape[1], m.shape[0], 1 if m.ndim == 2 else m.shape[2]))',
        path], { encoding: 'utf8', timeout: 30000 });
    check(py.status === 0, `python3/cv2 failed: ${py.stderr}`);
    return py.stdout.trim();
}

/* Checks that the file is what `tessera process -p PIPELINE PHOTO --format png` writes. */
export function checkSameAsCli(data, pipeline, outPath) {
    const cli = spawnSync(BIN, ['process', '-p', pipeline, PHOTO, '-o', outPath, '--format', 'png'],
        { encoding: 'utf8', timeout: 60000 });
    check(cli.status === 0, `tessera process failed: ${cli.stderr}`);
    check(readFileSync(outPath).equals(data), 'the download differs from `tessera process` output');
}

async function cleanup(tmp) {
    for (const context of contexts)
        await context.close().catch(() => {});
    for (const proc of servers)
        await stopServer(proc).catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
}

/* Runs main() within totalMs, cleans up (browsers, servers, tmp), prints
 * "# LABEL: N passed, N failed" and exits 0 only when every case passed. */
export async function runCases({ label, title, totalMs, tmp }, main) {
    const guard = setTimeout(() => {
        console.log(`FAIL timeout: the ${title} took more than ${totalMs / 1000} s`);
        for (const proc of servers)
            proc.kill('SIGKILL');
        rmSync(tmp, { recursive: true, force: true });
        process.exit(1);
    }, totalMs);

    try {
        await main();
    } catch (err) {
        failed = true;
        results.push([title, false]);
        console.log(`FAIL ${title}: ${err && err.stack}`);
    } finally {
        await cleanup(tmp);
        clearTimeout(guard);
    }
    const passed = results.filter((r) => r[1]).length;
    console.log(`# ${label}: ${passed} passed, ${results.length - passed} failed`);
    process.exit(failed ? 1 : 0);
}
