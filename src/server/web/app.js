/*
 * tessera web UI, the entry module: wires every screen's controls and
 * resumes a session. Vanilla JavaScript (ES2020 modules), no framework, no
 * build step, no external resources, no inline handlers (the page is served
 * with a CSP of default-src 'self'; img-src 'self' blob:). Every API call
 * sends the token as "Authorization: Bearer"; the token lives in
 * sessionStorage only. Data from the server is put on the page with
 * textContent, never as HTML.
 *
 * The modules, in js/ (served at /js/NAME.js):
 *   dom.js       byId(), el()               format.js   bytes, times, names
 *   state.js     state shared by screens    api.js      fetch with the token, ApiError
 *   messages.js  status and error lines     confirm.js  chosen images, Run enabled or not
 *   signin.js    sign in / out              account.js  the account panel
 *   uploads.js   images: upload and list    steps.js    the pipeline editor
 *   run.js       output, Check and Run      jobs.js     job panel, progress, past jobs
 *   events.js    the SSE reader             results.js  previews and downloads
 *   workers.js   the workers table          follow.js   a job to its end, reconnecting
 *   fields.js    errors next to their field
 *   library.js   the image library: thumbnails, search, paging, delete
 *   history.js   past jobs: names, durations, sizes, filter, rerun, delete
 *   params.js    a step's parameter controls   presets.js  "Start from a preset"
 *   saved.js     saved pipelines (save, load, versions, roll back)
 *   preview.js   the live preview beside the editor
 *   feedback.js  the rating (1-5 stars) and comment of a finished job
 *
 * Stable hooks for browser tests (Playwright). Ids in index.html:
 *   #signin-form, #token-input, #signin-button, #signout-button, #auth-status
 *   #account-panel (GET /users/me after sign-in, an upload, a submit and a
 *     job's end; data-stored-bytes, data-quota-bytes, data-active-jobs,
 *     data-quota-jobs: the numbers shown, a quota of 0 = unlimited),
 *     #account-user, #account-storage, #account-storage-meter, #account-jobs
 *   #file-input (multiple), #drop-zone, #upload-list (the library grid)
 *   #library-notice (a duplicate upload's notice), #library-search,
 *     #library-all, #library-none, #library-delete, #library-prev,
 *     #library-next, #library-page
 *   #preset-select (GET /presets; picking one replaces the steps and checks
 *     them), #preset-description
 *   #op-select, #add-step-button, #op-summary, #steps-list
 *   #preview-panel (data-state idle|updating|ready|error), #preview-image
 *     (data-key: the image id and pipeline it shows), #preview-status
 *   #output-format, #output-quality, #output-frame (of animated inputs;
 *     empty = every frame) with #output-frame-error
 *   #saved-panel: #saved-name, #saved-save, #saved-select, #saved-load,
 *     #saved-history, #saved-versions (a name's versions, data-name)
 *   #check-button, #confirm-panel, #confirm-summary, #pipeline-text, #run-button
 *   #job-panel (data-job-id, data-state: submitting while the job is
 *     being created, then the job's state), #progress (role=progressbar,
 *     aria-valuenow 0..100) with #progress-bar inside, #progress-text,
 *   #job-state, #job-versions (tessera and op versions, output settings,
 *     saved pipeline: what "Rerun" repeats), #job-errors, #cancel-button,
 *     #job-usage (what a finished job used and cost)
 *   #job-connection ("reconnecting…" while the server does not answer; then
 *     #job-panel has data-connection="reconnecting")
 *   #results-section, #results, #download-button, #download-message
 *   #feedback-form (shown for a succeeded or failed job; data-job-id, and
 *     data-saved = the rating once one was sent from it), #feedback-stars
 *     (data-rating: the chosen one, 0 = none) holding the radio buttons
 *     #rating-1 .. #rating-5, #feedback-choice, #feedback-comment,
 *     #feedback-count, #feedback-submit, #feedback-status
 *   #jobs-refresh-button, #jobs-body, #jobs-state-filter, #jobs-prev,
 *     #jobs-next, #jobs-page
 *   #workers-section, #workers-summary, #workers-table, #workers-body, #workers-empty
 *     (GET /workers every 2 s while signed in and the page is visible;
 *     hidden for accounts that are not administrators)
 *   #status-message (role=status), #error-message (role=alert)
 *   body[data-auth] is "signed-in" or "signed-out".
 * data-testid on generated elements:
 *   upload-item      li per file; data-state uploading|done|error, data-image-id,
 *                    data-duplicate="true" when an upload turned out to be it
 *   library-thumb    its server thumbnail (img; data-loaded true once shown)
 *   upload-use       its "use in the job" checkbox
 *   upload-info      its confirmation text (id, format, size)
 *   step             li per pipeline step; data-op, data-index (0-based)
 *   param-NAME       a step's control for parameter NAME (number, checkbox,
 *                    select; for a kernel: the size select)
 *   param-NAME-slider  the 0..360 slider of an angle parameter
 *   kernel-cell      a kernel grid input; data-row, data-col
 *   step-up, step-down, step-remove   a step's buttons
 *   preview-before, preview-after     result images (img) per job item
 *   download-item    download button per job item
 *   job-row          tr per past job; data-job-id, data-state
 *   job-open, job-download, job-rerun, job-delete   its buttons
 *   job-name, job-duration, job-size  its cells
 *   saved-version    li per version of a saved pipeline; data-version
 *   saved-version-load, saved-version-rollback   its buttons
 *   job-rating       its rating cell (data-rating 1..5 when rated)
 *   worker-row       tr per worker; data-worker-id, data-state
 *                    (running|draining|lost)
 * A token can also be handed over in the URL fragment (#token=...): it is
 * moved into sessionStorage and removed from the address bar; fragments
 * never reach the server.
 */
import { setupJobs } from './js/jobs.js';
import { setupPresets } from './js/presets.js';
import { setupPreview } from './js/preview.js';
import { setupRun } from './js/run.js';
import { setupSaved } from './js/saved.js';
import { resumeSession, setupSignIn } from './js/signin.js';
import { setupSteps } from './js/steps.js';
import { setupUploads } from './js/uploads.js';

function start() {
    setupSignIn();
    setupSteps();
    setupPresets();
    setupPreview();
    setupRun();
    setupSaved();
    setupJobs();
    setupUploads();
    resumeSession();
}

if (document.readyState === 'loading')
    document.addEventListener('DOMContentLoaded', start);
else
    start();
