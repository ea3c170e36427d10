/*
 * Following one job to its end through anything the connection does: the
 * event stream (GET /jobs/{id}/events), the job's true state
 * (GET /jobs/{id}) whenever the stream ends early, and, while the server
 * does not answer (a restart, a dropped connection, a proxy's 502/503/504),
 * reconnecting with backoff: 0.5 s doubling to 10 s, for as long as the
 * page follows the job. The caller shows the job and the connection.
 */
import { API, ApiError, getJson, request } from './api.js';
import { readEvents } from './events.js';

export const TERMINAL = ['succeeded', 'failed', 'cancelled'];
const FIRST_WAIT_MS = 500;
const LONGEST_WAIT_MS = 10000;
const POLL_MS = 1000;

/* True for an error a restarting server gives: no answer, or 502/503/504. */
function transient(err) {
    return err instanceof ApiError && [0, 502, 503, 504].includes(err.status);
}

function wait(ms, signal) {
    return new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
        }, { once: true });
    });
}

/* Reads the event stream once; resolves with the final job when it came, else null. */
async function readStream(id, signal, onJob) {
    const response = await request(`${API}/jobs/${encodeURIComponent(id)}/events`, {
        headers: { Accept: 'text/event-stream' }, signal,
    });
    let final = null;
    await readEvents(response, (event, data) => {
        let job;
        try {
            job = JSON.parse(data);
        } catch (ignored) {
            return false;
        }
        if (!job || job.id !== id)
            return false;
        onJob(job);
        if (event === 'done' || TERMINAL.includes(job.state))
            final = job;
        return final !== null;
    });
    return final;
}

/*
 * Follows job `id` until it ends or `signal` aborts. onJob(job) gets every
 * state seen; onConnection(false) when the server stops answering,
 * onConnection(true) when it answers again. Resolves with the final job
 * (undefined when aborted); throws errors that retrying cannot mend (401,
 * 404, ...) and AbortError.
 */
export async function followJob(id, signal, onJob, onConnection) {
    let delay = FIRST_WAIT_MS;
    let lost = false;
    const answered = () => {
        if (lost) {
            lost = false;
            delay = FIRST_WAIT_MS;
            onConnection(true);
        }
    };
    while (!signal.aborted) {
        try {
            const final = await readStream(id, signal, (job) => {
                answered();
                onJob(job);
            });
            if (final)
                return final;
        } catch (err) {
            if (!transient(err) && !(err instanceof ApiError && err.status !== 401))
                throw err;
        }
        try {
            const job = await getJson(`${API}/jobs/${encodeURIComponent(id)}`);
            if (signal.aborted)
                return undefined;
            answered();
            onJob(job);
            if (TERMINAL.includes(job.state))
                return job;
            await wait(POLL_MS, signal);
            continue;
        } catch (err) {
            if (!transient(err))
                throw err;
        }
        if (!lost) {
            lost = true;
            onConnection(false);
        }
        await wait(delay, signal);
        delay = Math.min(delay * 2, LONGEST_WAIT_MS);
    }
    return undefined;
}
