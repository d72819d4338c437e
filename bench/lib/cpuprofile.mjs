// Summaries of a V8 .cpuprofile (node --cpu-prof): self time by function and by package,
// inclusive time of project functions. Times in ms, from the profile's own timeDeltas.
import { readFileSync } from 'node:fs';

const IDLE = new Set(['(idle)', '(program)', '(root)']);

function shortUrl(url, root) {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  if (root && u.startsWith(root)) u = u.slice(root.length + 1);
  return u;
}

/** Package-ish bucket of a frame: `node_modules/<pkg>`, `core/daemon`, `plugins/x`, `node:internal`, or the name. */
function bucketOf(frame, root) {
  const u = shortUrl(frame.url, root);
  if (!u) return frame.functionName.startsWith('RegExp:') ? 'RegExp (all)' : frame.functionName || '(native)';
  if (u.startsWith('node:')) return 'node:internal';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return `npm:${nm[1]}`;
  const m = /^(core\/[^/]+|plugins\/[^/]+|conformance-kit)\/dist\/src\/(.*)$/.exec(u);
  if (m) return `${m[1]}/${m[2].split('/')[0]}`;
  return u;
}

/**
 * @param file path of a .cpuprofile
 * @param root repository root (stripped from URLs)
 * @param windows optional [[startUs, endUs], ...] in CLOCK_MONOTONIC microseconds (the clock of
 *   process.hrtime and of V8's profile timestamps on Linux): only samples inside them count
 * @returns { wallMs, busyMs, idleMs, gcMs, self: [{name, ms}], buckets: [{name, ms}], inclusive: [{name, ms}] }
 */
export function summarizeCpuProfile(file, root, top = 20, windows = null) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n) => {
    const f = n.callFrame;
    const u = shortUrl(f.url, root);
    const name = f.functionName || '(anonymous)';
    return `${name.length > 80 ? `${name.slice(0, 77)}...` : name}${u ? ` ${u}:${f.lineNumber + 1}` : ''}`;
  };
  const self = new Map();
  const buckets = new Map();
  const incl = new Map();
  let idleMs = 0;
  let gcMs = 0;
  let busyMs = 0;
  const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);
  let t = p.startTime;
  let windowMs = 0;
  if (windows) for (const [a, b] of windows) windowMs += (b - a) / 1000;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (windows && !windows.some(([a, b]) => t >= a && t <= b)) continue;
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    const n = byId.get(p.samples[i]);
    if (!n) continue;
    const fn = n.callFrame.functionName;
    if (IDLE.has(fn)) {
      if (fn === '(idle)') idleMs += ms;
      else busyMs += ms;
      if (fn !== '(idle)') add(self, fn, ms);
      continue;
    }
    busyMs += ms;
    if (fn === '(garbage collector)') gcMs += ms;
    add(self, label(n), ms);
    add(buckets, bucketOf(n.callFrame, root), ms);
    const seen = new Set();
    for (let id = n.id; id !== undefined; id = parent.get(id)) {
      const a = byId.get(id);
      const u = shortUrl(a.callFrame.url, root);
      if (!/^(core|plugins)\//.test(u)) continue;
      const k = label(a);
      if (seen.has(k)) continue;
      seen.add(k);
      add(incl, k, ms);
    }
  }
  const sorted = (m) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms }));
  return {
    wallMs: windows ? windowMs : (p.endTime - p.startTime) / 1000,
    busyMs,
    idleMs,
    gcMs,
    self: sorted(self),
    buckets: sorted(buckets),
    inclusive: sorted(incl),
  };
}
