/*
 * The pipeline editor: the operation picker (#op-select, #op-summary) and
 * the steps (#steps-list), one fieldset per step with a control per
 * parameter (number, angle slider, checkbox, choice list, kernel grid) and
 * Up / Down / Remove buttons. buildPipeline() reads the steps back as the
 * JSON pipeline.
 */
import { invalidate } from './confirm.js';
import { byId, el } from './dom.js';
import { FieldError, clearFieldErrors } from './fields.js';
import { say } from './messages.js';
import { state } from './state.js';

const steps = []; /* pipeline steps in order: {uid, op, element} */

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

function rangeText(param) {
    if (param.type === 'enum')
        return param.choices.join(', ');
    if (param.type === 'bool')
        return 'on or off';
    if (param.type === 'kernel')
        return `square, side 1 to 9, values ${param.min} to ${param.max}`;
    return `${param.min} to ${param.max}${param.unit ? ` ${param.unit}` : ''}`;
}

function numberInput(id, param, testid) {
    const input = el('input', {
        id, type: 'number', testid,
        min: param.min, max: param.max,
        step: param.type === 'int' ? '1' : 'any',
        inputmode: param.type === 'int' ? 'numeric' : 'decimal',
    });
    if (param.default !== undefined)
        input.value = String(param.default);
    else
        input.placeholder = 'not set';
    return input;
}

/* An angle: a number field plus a 0..360 slider kept in step with it. */
function angleControl(id, param) {
    const number = numberInput(id, param, `param-${param.name}`);
    const slider = el('input', {
        id: `${id}-slider`, type: 'range', testid: `param-${param.name}-slider`,
        min: Math.max(0, param.min), max: Math.min(360, param.max), step: '1',
        'aria-label': `${param.name} slider, degrees`,
    });
    slider.value = number.value || '0';
    slider.addEventListener('input', () => {
        number.value = slider.value;
        invalidate();
    });
    number.addEventListener('input', () => {
        if (number.value !== '')
            slider.value = number.value;
    });
    return [number, slider];
}

/* Kernel editor: a size select and a size x size grid of number inputs. */
function kernelControl(id, param, stepLabel) {
    const size = el('select', { id, testid: `param-${param.name}` },
        [1, 3, 5, 7, 9].map((n) => el('option', { value: String(n), text: `${n}×${n}`, selected: n === 3 })));
    const grid = el('div', { class: 'kernel-grid', role: 'group', 'aria-label': `${stepLabel} kernel values` });
    const build = (n, previous) => {
        const old = previous ? previous.n : 0;
        const cells = [];
        for (let r = 0; r < n; r++) {
            for (let c = 0; c < n; c++) {
                const o = (old - n) / 2;
                let value = r === (n - 1) / 2 && c === (n - 1) / 2 ? 1 : 0;
                if (previous && r + o >= 0 && r + o < old && c + o >= 0 && c + o < old)
                    value = previous.values[(r + o) * old + (c + o)];
                cells.push(el('input', {
                    type: 'number', step: 'any', class: 'kernel-cell', testid: 'kernel-cell',
                    min: param.min, max: param.max, value: String(value),
                    'data-row': r, 'data-col': c,
                    'aria-label': `Kernel row ${r + 1}, column ${c + 1}`,
                }));
            }
        }
        grid.dataset.size = String(n);
        grid.replaceChildren(...cells);
    };
    const current = () => ({
        n: parseInt(grid.dataset.size, 10),
        values: Array.from(grid.querySelectorAll('input')).map((i) => i.value),
    });
    build(3, null);
    size.addEventListener('change', () => build(parseInt(size.value, 10), current()));
    return [size, grid];
}

function paramControl(step, param, stepLabel) {
    const id = `step-${step.uid}-${param.name}`;
    const label = el('label', { for: id, text: param.name });
    const hint = el('span', {
        class: 'hint', id: `${id}-hint`, title: param.doc,
        text: `${param.hint || param.doc} (${rangeText(param)})`,
    });
    let controls;
    if (param.type === 'bool') {
        controls = [el('input', { id, type: 'checkbox', testid: `param-${param.name}`, checked: param.default === true })];
    } else if (param.type === 'enum') {
        controls = [el('select', { id, testid: `param-${param.name}` },
            param.choices.map((choice) => el('option', { value: choice, text: choice, selected: choice === param.default })))];
    } else if (param.type === 'kernel') {
        controls = kernelControl(id, param, stepLabel);
        label.textContent = `${param.name} size`;
    } else if (param.name === 'angle') {
        controls = angleControl(id, param);
    } else {
        controls = [numberInput(id, param, `param-${param.name}`)];
    }
    controls[0].setAttribute('aria-describedby', hint.id);
    const wrap = el('div', { class: `param param-${param.type}` }, [label, ...controls, hint]);
    wrap.dataset.param = param.name;
    return wrap;
}

function addStep(name) {
    const op = findOp(name);
    if (!op)
        return;
    const step = { uid: state.nextUid++, op, element: null };
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
    invalidate();
    say(`Added step ${steps.length}: ${op.name}.`);
}

function renumberSteps() {
    steps.forEach((step, i) => {
        const label = `Step ${i + 1}: ${step.op.name}`;
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

/* The JSON value of one parameter, or undefined to leave it out; throws
 * FieldError naming the step and parameter when the field is invalid. */
function paramValue(step, param, where, index) {
    const fail = (message) => new FieldError(message, index, param.name);
    const control = byId(`step-${step.uid}-${param.name}`);
    if (param.type === 'bool')
        return control.checked;
    if (param.type === 'enum')
        return control.value;
    if (param.type === 'kernel') {
        const cells = Array.from(step.element.querySelectorAll(`[data-param="${param.name}"] .kernel-cell`));
        if (cells.some((c) => c.value === '' || !c.checkValidity()))
            throw fail(`${where}: every kernel value must be a number from ${param.min} to ${param.max}`);
        return cells.map((c) => Number(c.value));
    }
    if (control.value !== '') {
        if (!control.checkValidity())
            throw fail(`${where} must be ${param.type === 'int' ? 'a whole number' : 'a number'} ` +
                `from ${param.min} to ${param.max}`);
        return Number(control.value);
    }
    if (control.validity.badInput)
        throw fail(`${where} is not a number`);
    return undefined;
}

/* The JSON form of the steps; throws Error naming the step and parameter when a field is invalid. */
export function buildPipeline() {
    if (!steps.length)
        throw new Error('Add at least one operation first');
    return steps.map((step, i) => {
        const json = { op: step.op.name };
        for (const param of step.op.params) {
            const value = paramValue(step, param, `Step ${i + 1} (${step.op.name}): ${param.name}`, i);
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
