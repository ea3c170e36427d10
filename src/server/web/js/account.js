/*
 * The account panel (#account-panel): name and role, storage used of the
 * quota with a meter, active jobs of the limit, from GET /users/me. Read at
 * sign-in and after uploads, submits and a job's end; an older answer that
 * arrives after a newer request is dropped.
 */
import { API, ApiError, getJson } from './api.js';
import { byId } from './dom.js';
import { shortBytes } from './format.js';
import { plainError, report } from './messages.js';
import { state } from './state.js';

let accountSeq = 0; /* bumped per GET /users/me and at sign-out; older answers are dropped */

/* "Storage: 12.3 MB of 10 GB" and the meter; a quota of 0 is unlimited. */
function showAccount(user) {
    const panel = byId('account-panel');
    const stored = Math.max(0, Number(user.stored_bytes) || 0);
    const quotaBytes = Math.max(0, Number(user.quota_bytes) || 0);
    const active = Math.max(0, Number(user.active_jobs) || 0);
    const quotaJobs = Math.max(0, Number(user.quota_jobs) || 0);
    byId('account-user').textContent = `${user.name} (${user.role})`;
    byId('account-storage').textContent = quotaBytes
        ? `Storage: ${shortBytes(stored)} of ${shortBytes(quotaBytes)}`
        : `Storage: ${shortBytes(stored)} of unlimited`;
    const meter = byId('account-storage-meter');
    meter.hidden = !quotaBytes;
    meter.value = quotaBytes ? Math.min(1, stored / quotaBytes) : 0;
    byId('account-jobs').textContent = quotaJobs
        ? `Active jobs: ${active} of ${quotaJobs}`
        : `Active jobs: ${active} of unlimited`;
    panel.dataset.storedBytes = String(stored);
    panel.dataset.quotaBytes = String(quotaBytes);
    panel.dataset.activeJobs = String(active);
    panel.dataset.quotaJobs = String(quotaJobs);
    panel.hidden = false;
}

export async function loadAccount() {
    const seq = ++accountSeq;
    try {
        const user = await getJson(`${API}/users/me`);
        if (seq === accountSeq && state.token)
            showAccount(user);
    } catch (err) {
        if (seq !== accountSeq)
            return;
        if (err instanceof ApiError && err.status === 401)
            report(err, 'Reading your account');
        else if (err.name !== 'AbortError') { /* not an alert: the panel says it */
            byId('account-storage').textContent = plainError(err, 'Reading your account');
            byId('account-storage-meter').hidden = true;
            byId('account-panel').hidden = false;
        }
    }
}

/* At sign-out: hides the panel and drops answers still on their way. */
export function forgetAccount() {
    byId('account-panel').hidden = true;
    accountSeq++;
}
