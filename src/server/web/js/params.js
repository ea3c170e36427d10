/*
 * A pipeline step's parameter controls: a number field (min/max/step), a
 * 0..360 slider beside the number for an angle, a checkbox for on/off, a
 * choice list, a kernel grid with a size selector; readParam() reads one
 * back as its JSON value and writeParam() sets one (a preset's steps, a
 * loaded saved pipeline: steps.js setSteps).
 */
import { invalidate } from './confirm.js';
import { byId, el } from './dom.js';
import { FieldError } from './fields.js';

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

/* The control of parameter `param` of `step` ({uid}), with its label and
 * hint, wrapped in div.param[data-param]. */
export function paramControl(step, param, stepLabel) {
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

/* The JSON value of one parameter of `step` ({uid, element}), or undefined
 * to leave it out; throws FieldError naming the step and parameter when the
 * field is invalid. */
export function readParam(step, param, where, index) {
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

/* Sets the control of parameter `param` of `step` to the JSON `value` (a
 * preset's normalized step or a saved pipeline's; undefined leaves the
 * default). A kernel is a flat list or a list of rows. */
export function writeParam(step, param, value) {
    if (value === undefined || value === null)
        return;
    const control = byId(`step-${step.uid}-${param.name}`);
    if (param.type === 'bool') {
        control.checked = value === true;
    } else if (param.type === 'kernel') {
        const rows = Array.isArray(value[0]) ? value.flat() : value;
        control.value = String(Math.round(Math.sqrt(rows.length)));
        control.dispatchEvent(new Event('change'));
        const cells = step.element.querySelectorAll(`[data-param="${param.name}"] .kernel-cell`);
        cells.forEach((cell, i) => { cell.value = String(rows[i]); });
    } else {
        control.value = String(value);
        const slider = byId(`step-${step.uid}-${param.name}-slider`);
        if (slider)
            slider.value = control.value;
    }
}
