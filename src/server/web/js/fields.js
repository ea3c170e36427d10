/*
 * Errors where the user looks: a message next to the pipeline field that
 * caused it (a step's parameter control, or the step itself), the control
 * marked aria-invalid and focused. Used for the page's own checks
 * (FieldError from steps.js) and the server's 400s that name a step and a
 * parameter (ApiError.step, .param).
 */
import { byId, el } from './dom.js';

/* A field that is not valid: the step (0 = the first) and the parameter. */
export class FieldError extends Error {
    constructor(message, index, param) {
        super(message);
        this.index = index;
        this.param = param;
    }
}

/* Removes every field-level error message and mark. */
export function clearFieldErrors() {
    for (const note of byId('steps-list').querySelectorAll('.field-error'))
        note.remove();
    for (const control of byId('steps-list').querySelectorAll('[aria-invalid="true"]')) {
        control.removeAttribute('aria-invalid');
        control.setAttribute('aria-describedby', control.dataset.describedby || '');
    }
    for (const item of byId('steps-list').querySelectorAll('.step-invalid'))
        item.classList.remove('step-invalid');
}

/*
 * Shows `message` next to parameter `param` of step `index` (0 = the
 * first; the step as a whole when `param` is null or unknown), marks the
 * control aria-invalid and moves focus to it. False when there is no such
 * step.
 */
export function markField(index, param, message) {
    clearFieldErrors();
    const item = byId('steps-list').querySelectorAll('li.step')[index];
    if (!item)
        return false;
    const wrap = param ? item.querySelector(`.param[data-param="${CSS.escape(param)}"]`) : null;
    const control = wrap
        ? wrap.querySelector('.kernel-cell:invalid') || wrap.querySelector('input, select')
        : item.querySelector('.step-remove');
    const note = el('p', { class: 'field-error error-text', id: `field-error-${index}`, testid: 'field-error', role: 'alert', text: message });
    (wrap || item.querySelector('fieldset')).append(note);
    item.classList.add('step-invalid');
    control.dataset.describedby = control.getAttribute('aria-describedby') || '';
    control.setAttribute('aria-describedby', `${control.dataset.describedby} ${note.id}`.trim());
    control.setAttribute('aria-invalid', 'true');
    control.focus();
    return true;
}

