#!/usr/bin/env node
// Draws the SVG chart of a relay soak run (a helper of bench/relay-soak.mjs, not a bench):
//
//   node bench/relay-soak.mjs --json > soak.json && node bench/soak-chart.mjs soak.json > docs/img/relay-soak.svg
//
// Two panels over the minutes of the run, one line per process (relay server, rustynetd a/b/c):
// RSS (MiB) and open file descriptors. Plain SVG polylines (helpers in lib/svg-chart.mjs).
import { readFileSync } from 'node:fs';
import { esc, niceScale } from './lib/svg-chart.mjs';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/soak-chart.mjs <relay-soak JSON>');
  process.exit(2);
}
const doc = JSON.parse(readFileSync(file, 'utf8'));
const samples = doc.samples ?? [];
if (samples.length < 2) {
  console.error(`${file}: fewer than 2 samples`);
  process.exit(2);
}
const names = Object.keys(samples[0].procs);
const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const W = 720;
const PANEL_H = 200;
const M = { left: 60, right: 170, top: 30, bottom: 36 };

function panel(y0, title, unit, value) {
  const xMax = samples.at(-1).minute;
  const yMax = Math.max(...samples.flatMap((s) => names.map((n) => value(s.procs[n]))).filter(Number.isFinite));
  const { top, step } = niceScale(yMax * 1.1);
  const pw = W - M.left - M.right;
  const ph = PANEL_H - M.top - M.bottom;
  const x = (m) => M.left + (m / xMax) * pw;
  const y = (v) => y0 + M.top + ph - (v / top) * ph;
  const parts = [`<text x="${M.left}" y="${y0 + 18}" font-weight="bold">${esc(title)}</text>`];
  for (let v = 0; v <= top + 1e-9; v += step) {
    parts.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${+v.toFixed(2)}</text>`);
  }
  const xStep = xMax <= 12 ? 1 : Math.ceil(xMax / 12);
  for (let mnt = 0; mnt <= xMax + 1e-9; mnt += xStep) {
    parts.push(`<text x="${x(mnt).toFixed(1)}" y="${y0 + M.top + ph + 16}" text-anchor="middle">${+mnt.toFixed(2)}</text>`);
  }
  parts.push(`<text x="${M.left + pw / 2}" y="${y0 + PANEL_H - 4}" text-anchor="middle">minutes</text>`);
  parts.push(
    `<text x="14" y="${y0 + M.top + ph / 2}" transform="rotate(-90 14 ${y0 + M.top + ph / 2})" text-anchor="middle">${esc(unit)}</text>`,
  );
  parts.push(`<rect x="${M.left}" y="${y0 + M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  names.forEach((n, i) => {
    const pts = samples
      .filter((s) => Number.isFinite(value(s.procs[n])))
      .map((s) => `${x(s.minute).toFixed(1)},${y(value(s.procs[n])).toFixed(1)}`)
      .join(' ');
    parts.push(`<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${pts}"/>`);
    const ly = y0 + M.top + 14 + i * 18;
    parts.push(
      `<line x1="${W - M.right + 14}" x2="${W - M.right + 34}" y1="${ly - 4}" y2="${ly - 4}" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${W - M.right + 40}" y="${ly}">${esc(n)}</text>`);
  });
  return parts.join('\n');
}

const H = PANEL_H * 2 + 30;
const svg = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  `<rect width="${W}" height="${H}" fill="#fff"/>`,
  `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${esc(
    `relay soak: ${doc.settings?.intervals ?? '?'} x ${doc.settings?.sampleSeconds ?? '?'} s, ${doc.machine?.nproc ?? '?'} CPUs, ${doc.startedAt?.slice(0, 10) ?? ''}`,
  )}</text>`,
  `<g transform="translate(0,20)">`,
  panel(0, 'Resident set size', 'MiB', (p) => p.rssMiB),
  panel(PANEL_H, 'Open file descriptors', 'fds', (p) => p.fds),
  `</g>`,
  `</svg>`,
].join('\n');
process.stdout.write(`${svg}\n`);
