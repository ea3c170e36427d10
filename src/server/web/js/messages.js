/*
 * The status line (#status-message), the error line (#error-message) and
 * plainError(), which turns an ApiError into a sentence a person can act
 * on. report() shows an error; on a 401 it also calls the handler set with
 * whenUnauthorized() (sign-in sets it to sign out).
 */
import { ApiError } from './api.js';
import { byId } from './dom.js';

let unauthorized = () => undefined;

/* Sets what report() does after showing a 401. */
export function whenUnauthorized(handler) {
    unauthorized = handler;
}

export function say(text) {
    byId('status-message').textContent = text;
}

export function showError(text) {
    const box = byId('error-message');
    box.textContent = text;
    box.hidden = !text;
}

/* The message for a 429 or 503, with the Retry-After wait. */
function busyError(err, what, detail) {
    const wait = err.retryAfter ? ` Try again in ${err.retryAfter} seconds.` : ' Try again shortly.';
    if (err.code === 'too_many_active_jobs')
        return `${what} failed: your account already runs as many jobs as its quota allows${detail}. ` +
            `Wait for one to finish or cancel one.${wait}`;
    if (err.code === 'rate_limited')
        return `${what} failed: too many requests in a short time${detail}.${wait}`;
    return `${what} failed: the server is busy${detail}.${wait}`;
}

/* A sentence a person can act on, with the server's own words after it. */
export function plainError(err, what) {
    if (!(err instanceof ApiError))
        return `${what} failed: ${err.message || err}.`;
    const detail = err.message ? ` (${err.message})` : '';
    switch (err.status) {
    case 0:
        return `${what} failed: the tessera server could not be reached. Check that it is running.`;
    case 400:
        return `${what} failed: the request was not accepted${detail}.`;
    case 401:
        return 'The server did not accept your token. Sign in again with a valid token.';
    case 403:
        return `${what} failed: your account is not allowed to do this${detail}.`;
    case 404:
        return `${what} failed: it was not found; it may have been deleted${detail}.`;
    case 409:
        return `${what} failed: it is not ready yet${detail}.`;
    case 413:
        if (err.code === 'quota_exceeded')
            return `${what} failed: your account's storage quota is used up${detail}. ` +
                'Delete images you no longer need, or ask an administrator for more.';
        return `${what} failed: it is too large${detail}.`;
    case 415:
        return `${what} failed: this is not an image format tessera can read ` +
            `(JPEG, PNG, GIF, WebP, TIFF, BMP, PNM)${detail}.`;
    case 422:
        return `${what} failed: the image could not be decoded; it may be corrupt or cut short${detail}.`;
    case 429:
    case 503:
        return busyError(err, what, detail);
    default:
        return `${what} failed: the server answered ${err.status}${detail}.`;
    }
}

export function report(err, what) {
    if (err && err.name === 'AbortError')
        return;
    showError(plainError(err, what));
    if (err instanceof ApiError && err.status === 401)
        unauthorized();
}
