// Plain SVG line charts for bench figures (no library, no browser): panels stacked vertically,
// each with its own axes (linear from 0, or log10), one polyline with point markers per series,
// legend on the right.

/** Escapes text for SVG content and attribute values. */
export const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

/** A "nice" upper bound and tick step for [0, max]. */
export function niceScale(max) {
  const raw = max / 4 || 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw);
  return { top: Math.ceil(max / step) * step || step, step };
}

/** Short tick label: 10000 -> "10k", 0.5 -> "0.5". */
export function tickLabel(v) {
  if (v >= 1e6 && v % 1e6 === 0) return `${v / 1e6}M`;
  if (v >= 1e3 && v % 1e3 === 0) return `${v / 1e3}k`;
  return String(+v.toPrecision(3));
}

/**
 * Axis over `values`: log10 from the power of ten at or below the smallest to the one at or
 * above the largest (ticks at 1, 2, 5 x 10^k when it spans at most 3 decades), or linear from 0
 * to a nice bound. @returns { lo, hi, ticks, pos(v) -> 0..1 }
 */
export function axis(values, log) {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (log) {
    const lo = 10 ** Math.floor(Math.log10(Math.min(...finite, 1e9)));
    const hi = 10 ** Math.ceil(Math.log10(Math.max(...finite, lo * 10)));
    const decades = Math.round(Math.log10(hi / lo));
    const ticks = [];
    for (let p = lo; p <= hi * 1.0001; p *= 10) for (const f of decades <= 3 ? [1, 2, 5] : [1]) if (p * f <= hi * 1.0001) ticks.push(p * f);
    return { lo, hi, ticks, pos: (v) => Math.log10(v / lo) / Math.log10(hi / lo) };
  }
  const { top, step } = niceScale(Math.max(...finite, 0) * 1.1);
  const ticks = [];
  for (let v = 0; v <= top + 1e-9; v += step) ticks.push(v);
  return { lo: 0, hi: top, ticks, pos: (v) => v / top };
}

const W = 720;
const M = { left: 64, right: 200, top: 28, bottom: 38 };

/**
 * One panel at vertical offset `y0`, `height` pixels tall.
 * panel: { title, xLabel, yLabel, xLog, yLog, series: [{ name, color, dash?, points: [[x, y], ...], labels?: [text per point] }] }
 */
function renderPanel(panel, y0, height) {
  const pts = panel.series.flatMap((s) => s.points);
  const ax = axis(
    pts.map((p) => p[0]),
    panel.xLog,
  );
  const ay = axis(
    pts.map((p) => p[1]),
    panel.yLog,
  );
  const pw = W - M.left - M.right;
  const ph = height - M.top - M.bottom;
  const x = (v) => M.left + ax.pos(v) * pw;
  const y = (v) => y0 + M.top + ph - ay.pos(v) * ph;
  const out = [`<text x="${M.left}" y="${y0 + 18}" font-weight="bold">${esc(panel.title)}</text>`];
  for (const v of ay.ticks) {
    out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${tickLabel(v)}</text>`);
  }
  for (const v of ax.ticks) {
    out.push(`<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="${y0 + M.top}" y2="${y0 + M.top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x(v).toFixed(1)}" y="${y0 + M.top + ph + 16}" text-anchor="middle">${tickLabel(v)}</text>`);
  }
  out.push(`<text x="${M.left + pw / 2}" y="${y0 + height - 4}" text-anchor="middle">${esc(panel.xLabel)}</text>`);
  const cy = y0 + M.top + ph / 2;
  out.push(`<text x="16" y="${cy}" transform="rotate(-90 16 ${cy})" text-anchor="middle">${esc(panel.yLabel)}</text>`);
  out.push(`<rect x="${M.left}" y="${y0 + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  panel.series.forEach((s, i) => {
    const ok = s.points.filter(([px, py]) => Number.isFinite(px) && Number.isFinite(py) && (!panel.yLog || py > 0));
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    const line = ok.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${line}"/>`);
    for (const [j, [px, py]] of ok.entries()) {
      const label = s.labels?.[s.points.indexOf(ok[j])];
      // Inside the plot area: the first point's label starts at it, the last one's ends at it.
      const anchor = ok.length < 2 ? 'middle' : j === 0 ? 'start' : j === ok.length - 1 ? 'end' : 'middle';
      if (label)
        out.push(
          `<text x="${x(px).toFixed(1)}" y="${(y(py) - 8).toFixed(1)}" text-anchor="${anchor}" fill="${s.color}">${esc(label)}</text>`,
        );
      out.push(
        `<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(`${s.name}: ${tickLabel(px)} -> ${+py.toPrecision(3)}`)}</title></circle>`,
      );
    }
    const ly = y0 + M.top + 12 + i * 18;
    out.push(
      `<line x1="${W - M.right + 12}" x2="${W - M.right + 34}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`,
    );
    out.push(`<text x="${W - M.right + 40}" y="${ly}">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

/** A complete SVG document: `title` on top, then `panels` stacked, each `panelHeight` tall. */
export function chartSvg({ title, panels, panelHeight = 240, note }) {
  const H = panelHeight * panels.length + 30 + (note ? 16 : 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<g transform="translate(0,20)">`,
    ...panels.map((p, i) => renderPanel(p, i * panelHeight, panelHeight)),
    `</g>`,
    note ? `<text x="${W / 2}" y="${H - 6}" text-anchor="middle" fill="#555">${esc(note)}</text>` : '',
    `</svg>`,
    '',
  ].join('\n');
}
