/*
 * The API client: fetch() with the Bearer token from state.token, errors
 * as ApiError (HTTP status, the error body's code and message, Retry-After,
 * and for a bad pipeline the step and parameter to blame),
 * JSON helpers and the file name of a download.
 */
import { state } from './state.js';

export const API = '/api/v1';

export class ApiError extends Error {
    constructor(status, code, message, retryAfter, where) {
        super(message);
        this.status = status;         /* HTTP status, 0 for network failures */
        this.code = code;             /* the error body's code */
        this.retryAfter = retryAfter; /* seconds, or null */
        this.image = where && typeof where.image === 'string' ? where.image : null; /* bad_pipeline: the image it cannot run on */
        this.step = where && Number.isInteger(where.step) ? where.step : null; /* pipeline step to blame, 1 = first */
        this.param = where && typeof where.param === 'string' ? where.param : null; /* its parameter */
    }
}

/* fetch() with the token; resolves to the Response when ok, else throws ApiError. */
export async function request(path, options = {}) {
    const headers = new Headers(options.headers || {});
    if (state.token)
        headers.set('Authorization', `Bearer ${state.token}`);
    let response;
    try {
        response = await fetch(path, { ...options, headers, cache: 'no-store' });
    } catch (err) {
        if (err.name === 'AbortError')
            throw err;
        throw new ApiError(0, 'network', '', null);
    }
    if (response.ok || response.status === 304)
        return response;
    let code = 'http', message = '', where = null;
    try {
        const body = await response.json();
        if (body && body.error) {
            code = body.error.code || code;
            message = body.error.message || '';
            where = body.error;
        }
    } catch (ignored) {
        message = response.statusText;
    }
    const retry = parseInt(response.headers.get('Retry-After') || '', 10);
    throw new ApiError(response.status, code, message, Number.isFinite(retry) ? retry : null, where);
}

export async function getJson(path) {
    return (await request(path)).json();
}

export async function sendJson(method, path, body) {
    const options = { method };
    if (body !== undefined) {
        options.headers = { 'Content-Type': 'application/json' };
        options.body = JSON.stringify(body);
    }
    const response = await request(path, options);
    return response.status === 204 ? null : response.json();
}

/* The file name from Content-Disposition, or `fallback`. */
export function dispositionName(response, fallback) {
    const header = response.headers.get('Content-Disposition') || '';
    const star = header.match(/filename\*\s*=\s*UTF-8''([^;]+)/i);
    if (star) {
        try {
            return decodeURIComponent(star[1].trim());
        } catch (ignored) { /* fall through to the plain name */ }
    }
    const plain = header.match(/filename\s*=\s*"?([^";]+)"?/i);
    return plain ? plain[1].trim() : fallback;
}
