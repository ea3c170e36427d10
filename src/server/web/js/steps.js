/*
 * The pipeline editor: the operation picker (#op-select, #op-summary) and
 * the steps (#steps-list), one fieldset per step with a control per
 * parameter (params.js) and Up / Down / Remove buttons. buildPipeline()
 * reads the steps back as the JSON pipeline; setSteps() replaces them (a
 * preset, a saved pipeline). A step set from a pipeline keeps the op
 * version it names (shown as "op@N" in its legend when it is not the
 * newest) and the pipeline built from it pins that version.
 */
import { invalidate } from './confirm.js';
import { byId, el } from './dom.js';
import { clearFieldErrors } from './fields.js';
import { say } from './messages.js';
import { paramControl, readParam, writeParam } from './params.js';
import { state } from './state.js';

const steps = []; /* pipeline steps in order: {uid, op, version, element} */

/* Fills the operation picker from state.ops. */
export function fillOperations() {
    const select = byId('op-select');
    select.replaceChildren(...state.ops.map((op) => el('option', { value: op.name, text: op.name })));
    showOpSummary();
}

function findOp(name) {
    return state.ops.find((op) => op.name === name);
}

function showOpSummary() {
    const op = findOp(byId('op-select').value);
    byId('op-summary').textContent = op ? `${op.name}: ${op.summary}` : '';
}

/* Adds a step running op `name` with its defaults, pinned to `version`
 * when given (undefined: the newest); returns it (null for an unknown op).
 * `quiet` leaves the status line and the check alone. */
function addStep(name, { version, quiet = false } = {}) {
    const op = findOp(name);
    if (!op)
        return null;
    const step = { uid: state.nextUid++, op, version, element: null };
    const legend = el('legend', {});
    const params = op.params.map((param) => paramControl(step, param, op.name));
    const buttons = el('div', { class: 'step-buttons' }, [
        el('button', { type: 'button', class: 'step-up', testid: 'step-up', text: '↑ Up' }),
        el('button', { type: 'button', class: 'step-down', testid: 'step-down', text: '↓ Down' }),
        el('button', { type: 'button', class: 'step-remove', testid: 'step-remove', text: 'Remove' }),
    ]);
    const body = params.length ? params : [el('p', { class: 'hint', text: 'No parameters.' })];
    step.element = el('li', { class: 'step', testid: 'step' }, [
        el('fieldset', {}, [legend, el('p', { class: 'hint', text: op.summary }), ...body, buttons]),
    ]);
    step.element.dataset.op = op.name;
    steps.push(step);
    byId('steps-list').append(step.element);
    renumberSteps();
    if (!quiet) {
        invalidate();
        say(`Added step ${steps.length}: ${op.name}.`);
    }
    return step;
}

/* Replaces every step with `pipeline`, a normalized JSON list ({op,
 * version, and a value per parameter}): the editor is as if the user had
 * added each step and typed its values, each step keeping its version.
 * Throws Error for an operation this page does not know. */
export function setSteps(pipeline) {
    const unknown = pipeline.find((json) => !findOp(json.op));
    if (unknown)
        throw new Error(`unknown operation ${unknown.op}`);
    clearFieldErrors();
    steps.splice(0, steps.length);
    for (const json of pipeline) {
        const step = addStep(json.op, { version: json.version, quiet: true });
        for (const param of step.op.params)
            writeParam(step, param, json[param.name]);
    }
    renumberSteps();
    invalidate();
}

function renumberSteps() {
    steps.forEach((step, i) => {
        const pinned = step.version && step.version !== step.op.version ? `@${step.version}` : '';
        const label = `Step ${i + 1}: ${step.op.name}${pinned}`;
        step.element.dataset.index = String(i);
        step.element.querySelector('legend').textContent = label;
        const [up, down, remove] = step.element.querySelectorAll('.step-buttons button');
        up.setAttribute('aria-label', `Move step ${i + 1} (${step.op.name}) up`);
        down.setAttribute('aria-label', `Move step ${i + 1} (${step.op.name}) down`);
        remove.setAttribute('aria-label', `Remove step ${i + 1} (${step.op.name})`);
        up.disabled = i === 0;
        down.disabled = i === steps.length - 1;
    });
    byId('steps-empty').hidden = steps.length > 0;
    byId('steps-list').replaceChildren(...steps.map((s) => s.element));
}

/* Removes the step at `index`; focus goes to the next step's Remove button. */
function removeStep(index) {
    const [step] = steps.splice(index, 1);
    renumberSteps();
    invalidate();
    say(`Removed ${step.op.name}.`);
    const next = steps[Math.min(index, steps.length - 1)];
    (next ? next.element.querySelector('.step-remove') : byId('add-step-button')).focus();
}

/* Up, Down and Remove, by event delegation on #steps-list. */
function onStepButton(event) {
    const button = event.target.closest('button');
    if (!button)
        return;
    const item = button.closest('li.step');
    const index = steps.findIndex((s) => s.element === item);
    if (index < 0)
        return;
    const step = steps[index];
    let target = index;
    if (button.classList.contains('step-up') && index > 0)
        target = index - 1;
    else if (button.classList.contains('step-down') && index < steps.length - 1)
        target = index + 1;
    if (button.classList.contains('step-remove')) {
        removeStep(index);
        return;
    }
    if (target === index)
        return;
    steps.splice(index, 1);
    steps.splice(target, 0, step);
    renumberSteps();
    invalidate();
    say(`Moved ${step.op.name} to position ${target + 1}.`);
    const again = step.element.querySelector(button.classList.contains('step-up') ? '.step-up' : '.step-down');
    (again.disabled ? step.element.querySelector('.step-remove') : again).focus();
}

/* The JSON form of the steps; throws Error naming the step and parameter when a field is invalid. */
export function buildPipeline() {
    if (!steps.length)
        throw new Error('Add at least one operation first');
    return steps.map((step, i) => {
        const json = step.version ? { op: step.op.name, version: step.version } : { op: step.op.name };
        for (const param of step.op.params) {
            const value = readParam(step, param, `Step ${i + 1} (${step.op.name}): ${param.name}`, i);
            if (value !== undefined)
                json[param.name] = value;
        }
        return json;
    });
}

/* Wires the operation picker, Add step and the step list. */
export function setupSteps() {
    byId('steps-list').addEventListener('input', (event) => {
        if (event.target.closest('.step-invalid'))
            clearFieldErrors();
    });
    byId('op-select').addEventListener('change', showOpSummary);
    byId('add-step-button').addEventListener('click', () => addStep(byId('op-select').value));
    byId('steps-list').addEventListener('click', onStepButton);
    byId('steps-list').addEventListener('input', invalidate);
    byId('steps-list').addEventListener('change', invalidate);
}
