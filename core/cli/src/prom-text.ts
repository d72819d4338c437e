/**
 * A reader of the Prometheus text exposition format (version 0.0.4), for `rustynet metrics --json`.
 * Format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */

/** One sample line: `name{labels} value`. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  /** The value; `NaN`, `+Inf` and `-Inf` are kept as strings (JSON has no such numbers). */
  value: number | string;
}

/** One metric family: its `# HELP` and `# TYPE` lines and its samples (histogram parts included). */
export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+([-+]?(?:[0-9][0-9.eE+-]*|\.[0-9][0-9eE+-]*|Inf|NaN))(?:\s+-?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

function unescape(v: string): string {
  return v.replace(/\\(n|\\|")/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseLabels(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  LABEL.lastIndex = 0;
  for (let m = LABEL.exec(text); m; m = LABEL.exec(text)) out[m[1]] = unescape(m[2]);
  return out;
}

function parseValue(v: string): number | string {
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
}

/** The family a sample belongs to: `x_bucket`, `x_sum`, `x_count` belong to `x` when `x` is declared. */
function familyOf(name: string, families: Map<string, PromFamily>): PromFamily {
  for (const suffix of ['_bucket', '_sum', '_count', '']) {
    if (suffix && !name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, name.length - suffix.length));
    if (f) return f;
  }
  const f: PromFamily = { name, type: 'untyped', help: '', samples: [] };
  families.set(name, f);
  return f;
}

/** Parses an exposition into families, in the order they appear. Lines it cannot read are skipped. */
export function parsePromText(text: string): PromFamily[] {
  const families = new Map<string, PromFamily>();
  const declare = (name: string): PromFamily => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', help: '', samples: [] }));
    return f;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)\s*(.*)$/.exec(line);
    if (meta) {
      const f = declare(meta[2]);
      if (meta[1] === 'HELP') f.help = unescape(meta[3] ?? '');
      else f.type = meta[3] ?? 'untyped';
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const name = m[1];
    familyOf(name, families).samples.push({ name, labels: parseLabels(m[2]), value: parseValue(m[3]) });
  }
  return [...families.values()];
}
