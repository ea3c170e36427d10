/*
 * Feedback on a finished job (#feedback-form in the job panel, shown once
 * the job succeeded or failed): a rating of 1 to 5 stars (five labelled
 * radio buttons: Tab reaches the group, the arrow keys choose) and an
 * optional plain-text comment of at most 2000 characters, sent with
 * POST /jobs/{id}/feedback. The job object's "feedback" fills the form in
 * again whenever the job is shown (after a reload too). The job panel
 * (jobs.js) calls showFeedback() with each version of the job it shows and
 * hands in, through setupFeedback, what to do with a saved rating.
 */
import { API, sendJson } from './api.js';
import { byId } from './dom.js';
import { report, say } from './messages.js';

export const COMMENT_MAX = 2000; /* characters (code points), as the server counts */
export const RATING_WORDS = ['', 'poor', 'fair', 'good', 'very good', 'excellent'];
const RATABLE = ['succeeded', 'failed'];

let jobId = null;         /* the job the form is for */
let saved = () => {};     /* the job panel's handler of a saved feedback */

/* "★★★★☆": `rating` of five as stars (decorative; say the number beside it). */
export function stars(rating) {
    const n = Math.max(0, Math.min(5, Number(rating) || 0));
    return '★'.repeat(n) + '☆'.repeat(5 - n);
}

function chosen() {
    const input = byId('feedback-form').querySelector('input[name="rating"]:checked');
    return input ? Number(input.value) : 0;
}

/* Lights the stars up to the chosen one and enables Send once there is one. */
function showChoice() {
    const rating = chosen();
    for (const label of byId('feedback-stars').querySelectorAll('label'))
        label.classList.toggle('on', Number(label.dataset.value) <= rating);
    byId('feedback-stars').dataset.rating = String(rating);
    byId('feedback-choice').textContent = rating ? `${rating} of 5: ${RATING_WORDS[rating]}` : 'No rating yet';
    byId('feedback-submit').disabled = rating === 0;
}

function showCount() {
    const used = [...byId('feedback-comment').value].length;
    byId('feedback-count').textContent = `${used} of ${COMMENT_MAX} characters`;
}

/* Fills the form from a job's saved feedback (or empties it). */
function fill(feedback) {
    for (const input of byId('feedback-form').querySelectorAll('input[name="rating"]'))
        input.checked = Boolean(feedback) && Number(input.value) === feedback.rating;
    byId('feedback-comment').value = feedback ? feedback.comment : '';
    byId('feedback-status').textContent = feedback
        ? `You rated this job ${feedback.rating} of 5. Change it and send again to replace it.`
        : '';
    byId('feedback-submit').textContent = feedback ? 'Update feedback' : 'Send feedback';
    showChoice();
    showCount();
}

export function hideFeedback() {
    jobId = null;
    byId('feedback-form').hidden = true;
}

/* Shows the form for `job` once it has succeeded or failed; a later
 * version of the same job leaves what the user is typing alone. */
export function showFeedback(job) {
    if (!job || !RATABLE.includes(job.state)) {
        hideFeedback();
        return;
    }
    const form = byId('feedback-form');
    if (jobId !== job.id) {
        jobId = job.id;
        form.dataset.jobId = job.id;
        fill(job.feedback || null);
    }
    form.hidden = false;
}

async function send(event) {
    event.preventDefault();
    const rating = chosen();
    const id = jobId;
    if (!id || !rating)
        return;
    const comment = byId('feedback-comment').value;
    if ([...comment].length > COMMENT_MAX) {
        byId('feedback-status').textContent = `The comment is longer than ${COMMENT_MAX} characters.`;
        return;
    }
    const button = byId('feedback-submit');
    button.disabled = true;
    try {
        const answer = await sendJson('POST', `${API}/jobs/${encodeURIComponent(id)}/feedback`,
            { rating, comment });
        if (id !== jobId)
            return;
        const feedback = { rating: answer.rating, comment: answer.comment,
            created: answer.created, updated: answer.updated };
        fill(feedback);
        byId('feedback-status').textContent = `Thank you: you rated this job ${answer.rating} of 5.`;
        byId('feedback-form').dataset.saved = String(answer.rating);
        say(`Feedback on job ${id} saved.`);
        saved(id, feedback);
    } catch (err) {
        report(err, 'Sending your feedback');
    } finally {
        showChoice();
    }
}

/* Wires the form; `onSaved(jobId, feedback)` runs after each saved rating. */
export function setupFeedback(onSaved) {
    saved = onSaved || saved;
    const form = byId('feedback-form');
    form.addEventListener('submit', send);
    form.addEventListener('change', showChoice);
    byId('feedback-comment').addEventListener('input', showCount);
    byId('feedback-comment').maxLength = COMMENT_MAX;
    hideFeedback();
}
