/*
 * DOM helpers shared by every screen: byId() and el(), which builds an
 * element from a tag, properties and children. Text always goes in as
 * textContent, never as HTML.
 */

export const byId = (id) => document.getElementById(id);

/* A new <tag>: `text` sets textContent, `testid` data-testid, DOM properties
 * (checked, disabled...) are set as properties, the rest as attributes;
 * undefined, null and false values are left out. */
export function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false)
            continue;
        if (key === 'text')
            node.textContent = value;
        else if (key === 'testid')
            node.dataset.testid = value;
        else if (key in node && typeof value !== 'string')
            node[key] = value;
        else
            node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children)
        node.append(child);
    return node;
}
