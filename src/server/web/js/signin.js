/*
 * Signing in and out: the token form (#signin-form), a token handed over
 * in the URL fragment (#token=..., moved into sessionStorage and removed
 * from the address bar), GET /operations as the token's test, then loading
 * every screen (presets included); signing out (also on any 401) stops them and clears the token.
 */
import { forgetAccount, loadAccount } from './account.js';
import { API, ApiError, getJson } from './api.js';
import { byId } from './dom.js';
import { loadJobs, stopFollowing } from './jobs.js';
import { loadSaved } from './saved.js';
import { report, say, showError, whenUnauthorized } from './messages.js';
import { loadPresets } from './presets.js';
import { state } from './state.js';
import { fillOperations } from './steps.js';
import { loadStoredImages } from './uploads.js';
import { startWorkers, stopWorkers } from './workers.js';

const TOKEN_KEY = 'tessera.token';

/* Shows the signed-in or the signed-out page. */
function showSignedIn(signedIn) {
    document.body.dataset.auth = signedIn ? 'signed-in' : 'signed-out';
    byId('signin-form').hidden = signedIn;
    byId('signout-button').hidden = !signedIn;
    byId('signed-out-note').hidden = signedIn;
    byId('app-main').hidden = !signedIn;
    byId('auth-status').textContent = signedIn ? 'Signed in.' : 'Not signed in.';
}

async function signIn(token) {
    state.token = token;
    say('Signing in…');
    try {
        state.ops = await getJson(`${API}/operations`);
    } catch (err) {
        state.token = null;
        say('');
        if (err instanceof ApiError && err.status === 401)
            showError('That token was not accepted. Check it and try again.');
        else
            report(err, 'Signing in');
        return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    showError('');
    showSignedIn(true);
    fillOperations();
    loadPresets();
    say(`Signed in. ${state.ops.length} operations available.`);
    loadStoredImages();
    loadJobs();
    loadSaved();
    loadAccount();
    startWorkers();
}

function signOut(clearMessages = true) {
    stopFollowing();
    stopWorkers();
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showSignedIn(false);
    forgetAccount();
    byId('token-input').value = '';
    if (clearMessages) {
        showError('');
        say('Signed out.');
    }
    byId('token-input').focus();
}

/* Wires the sign-in form and Sign out; a 401 from any call signs out. */
export function setupSignIn() {
    whenUnauthorized(() => signOut(false));
    byId('signin-form').addEventListener('submit', (event) => {
        event.preventDefault();
        const token = byId('token-input').value.trim();
        if (token)
            signIn(token);
        else
            showError('Enter your access token first.');
    });
    byId('signout-button').addEventListener('click', () => signOut(true));
}

/* Signs in with a token from the URL fragment or this tab's sessionStorage,
 * else puts the focus on the token field. */
export function resumeSession() {
    let token = sessionStorage.getItem(TOKEN_KEY);
    if (location.hash.startsWith('#token=')) {
        token = decodeURIComponent(location.hash.slice('#token='.length));
        history.replaceState(null, '', location.pathname + location.search);
    }
    if (token)
        signIn(token);
    else
        byId('token-input').focus();
}
