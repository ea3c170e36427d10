/*
 * Formatting for people: byte counts, time left, "seconds ago", a job's
 * duration, a file name without its extension. Pure functions, no DOM.
 */

/* "12.3 MB", "10 GB", "512 bytes" (units of 1024). */
export function shortBytes(n) {
    if (n < 1024)
        return `${n} bytes`;
    const units = ['KB', 'MB', 'GB', 'TB'];
    let value = n / 1024, unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return `${value.toFixed(1).replace(/\.0$/, '')} ${units[unit]}`;
}

/* "512 bytes", or "12.3 MB (12,897,484 bytes)". */
export function formatBytes(n) {
    return n < 1024 ? `${n} bytes` : `${shortBytes(n)} (${n.toLocaleString('en')} bytes)`;
}

/* "about 42 s left", "about 3 min 5 s left"... from seconds (null: unknown). */
export function formatEta(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds))
        return 'estimating time left…';
    const s = Math.max(0, Math.round(seconds));
    if (s < 60)
        return `about ${s} s left`;
    if (s < 3600)
        return `about ${Math.floor(s / 60)} min ${s % 60} s left`;
    return `about ${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min left`;
}

/* "3 s ago" from seconds. */
export function ago(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds)))
        return 'never';
    const s = Math.max(0, Math.round(Number(seconds)));
    return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

/* "2.4 s" from a job's started and finished times, else "a moment". */
export function duration(job) {
    if (!job.started || !job.finished)
        return 'a moment';
    const s = (Date.parse(job.finished) - Date.parse(job.started)) / 1000;
    return Number.isFinite(s) ? `${s.toFixed(1)} s` : 'a moment';
}

/* A file name without its extension ("photo" from "photo.png"). */
export function stem(name) {
    const dot = name.lastIndexOf('.');
    return dot > 0 ? name.slice(0, dot) : name;
}
