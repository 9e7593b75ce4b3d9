// Tokens issued per minute, drawn as an SVG bar chart from the audit log's
// `tokens.issued` aggregates (one event per client and minute, with a count).

import { s } from "./dom.js";

const WIDTH = 720;
const HEIGHT = 160;
const PAD = 28;

/**
 * events: `tokens.issued` audit events; minutes: how many minutes back from
 * `now` to draw. Answers an <svg> element.
 */
export function tokensChart(events, minutes = 60, now = Date.now()) {
  const end = Math.floor(now / 60000);
  const start = end - minutes + 1;
  const counts = new Array(minutes).fill(0);
  for (const event of events) {
    const minute = Math.floor(new Date(event.detail?.minute ?? event.at).getTime() / 60000);
    const i = minute - start;
    if (i >= 0 && i < minutes) counts[i] += Number(event.detail?.count ?? 0);
  }
  const max = Math.max(1, ...counts);
  const total = counts.reduce((a, b) => a + b, 0);
  const barWidth = (WIDTH - 2 * PAD) / minutes;
  const svg = s("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: "chart",
    role: "img",
    "aria-label": `${total} tokens issued in the last ${minutes} minutes`,
  });
  svg.append(s("title", {}, `${total} tokens issued in the last ${minutes} minutes`));
  svg.append(s("line", { x1: PAD, y1: HEIGHT - PAD, x2: WIDTH - PAD, y2: HEIGHT - PAD, class: "axis" }));
  svg.append(s("text", { x: PAD - 4, y: PAD, class: "label end" }, String(max)));
  svg.append(s("text", { x: PAD - 4, y: HEIGHT - PAD, class: "label end" }, "0"));
  svg.append(s("text", { x: PAD, y: HEIGHT - 8, class: "label" }, `−${minutes} min`));
  svg.append(s("text", { x: WIDTH - PAD, y: HEIGHT - 8, class: "label end" }, "now"));
  counts.forEach((count, i) => {
    if (count === 0) return;
    const height = ((HEIGHT - 2 * PAD) * count) / max;
    const bar = s("rect", {
      x: PAD + i * barWidth + 1,
      y: HEIGHT - PAD - height,
      width: Math.max(1, barWidth - 2),
      height,
      class: "bar",
    });
    const at = new Date((start + i) * 60000);
    bar.append(s("title", {}, `${at.toLocaleTimeString()}: ${count}`));
    svg.append(bar);
  });
  return svg;
}
