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

/**
 * The signing keys' timeline as an SVG: one row per key, a light bar while
 * it is published, a dark one while it signs, and a line at `now`. Keys
 * without an end yet are drawn to the right edge.
 */
export function keyTimeline(keys, now = Date.now()) {
  const ROW = 26;
  const LEFT = 170;
  const height = PAD + keys.length * ROW + 20;
  const top = 12;
  const time = (text) => (text ? new Date(text).getTime() : null);
  const starts = keys.map((k) => time(k.created_at));
  const ends = keys.flatMap((k) => [time(k.signs_from), time(k.signs_until), time(k.published_until)]).filter((t) => t !== null);
  const from = Math.min(now, ...starts);
  // At least an hour past the latest date, so open-ended bars show as such.
  const to = Math.max(now, ...ends) + 3600 * 1000;
  const x = (t) => LEFT + ((WIDTH - LEFT - 8) * (t - from)) / (to - from);
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${height}`, class: "chart timeline", role: "img", "aria-label": "signing key timeline" });
  svg.append(s("title", {}, "Signing key timeline: published (light) and signing (dark)"));
  keys.forEach((k, i) => {
    const y = top + i * ROW;
    const published = [time(k.created_at), time(k.published_until) ?? to];
    const signing = [time(k.signs_from), time(k.signs_until) ?? to];
    svg.append(s("text", { x: LEFT - 8, y: y + 14, class: "label end" }, `${k.kid.slice(0, 10)}… ${k.state}`));
    svg.append(s("rect", { x: x(published[0]), y: y + 3, width: Math.max(1, x(published[1]) - x(published[0])), height: 14, class: "published" }));
    svg.append(s("rect", { x: x(signing[0]), y: y + 3, width: Math.max(1, x(signing[1]) - x(signing[0])), height: 14, class: `signing ${k.state}` }));
  });
  svg.append(s("line", { x1: x(now), y1: 10, x2: x(now), y2: height - 18, class: "now" }));
  svg.append(s("text", { x: x(now) + 4, y: 9, class: "label" }, "now"));
  svg.append(s("text", { x: LEFT, y: height - 6, class: "label" }, new Date(from).toLocaleString()));
  svg.append(s("text", { x: WIDTH - 8, y: height - 6, class: "label end" }, new Date(to).toLocaleString()));
  return svg;
}
