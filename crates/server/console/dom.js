// Building the DOM. Text is always set with text nodes, never parsed as HTML:
// client names, metadata and audit details come from API callers.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// h("button", {class: "x", on: {click: f}, disabled: true}, "text", child...)
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "on") {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (key.startsWith("on")) {
      throw new Error(`event handlers go in "on", not ${key}`);
    } else if (key === "value") {
      node.value = value;
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
  return append(node, children);
}

// An SVG element with attributes (no event handlers, no HTML).
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return append(node, children);
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

// An RFC 3339 time as the browser's local time, or a dash.
export function when(text) {
  if (!text) return "—";
  const t = new Date(text);
  return Number.isNaN(t.getTime()) ? text : t.toLocaleString();
}

// A value of a datetime-local input as RFC 3339 (UTC), or null if empty.
export function localToRfc3339(value) {
  if (!value) return null;
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) throw new Error(`not a date: ${value}`);
  return t.toISOString().replace(/\.\d{3}Z$/, "Z");
}

// Space- or comma-separated words as a list.
export function words(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}
