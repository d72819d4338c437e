// /proc readers.
import { readFileSync, readdirSync } from 'node:fs';

/** { rssKiB, hwmKiB } from /proc/<pid>/status (VmRSS, VmHWM), or null when gone. */
export function memoryOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
  } catch {
    return null;
  }
}

/** pids whose /proc/<pid>/cmdline contains every string in `parts`. */
export function findPids(parts) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`).toString('utf8').replace(/\0/g, ' ');
      if (parts.every((p) => cmd.includes(p))) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** `comm` of a pid, or null. */
export function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}
