/**
 * Small text formatting helpers for human output.
 */

/** Renders rows as a left-aligned table with a header row; columns separated by two spaces. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Formats a byte count with binary units: `512 B`, `1.5 KiB`, `3.2 MiB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Formats a duration in milliseconds compactly: `42s`, `5m3s`, `2h10m`, `3d4h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

/** Age of an ISO timestamp relative to `now` (ms): `12s ago`, `never` for null/invalid. */
export function formatAge(iso: string | null | undefined, now: number): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'never';
  const d = now - t;
  return d >= 0 ? `${formatDuration(d)} ago` : `in ${formatDuration(-d)}`;
}

/** One line describing a daemon ingest result (`{ result, version?, error? }`). */
export function describeIngest(r: unknown): string {
  if (!r || typeof r !== 'object') return 'done';
  const o = r as { result?: unknown; version?: unknown; error?: { code?: unknown; message?: unknown } };
  const parts = [typeof o.result === 'string' ? o.result : 'done'];
  if (typeof o.version === 'number') parts.push(`version ${o.version}`);
  if (o.error && typeof o.error === 'object') parts.push(`${String(o.error.code)}: ${String(o.error.message)}`);
  return parts.join(' ');
}
