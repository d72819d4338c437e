// Prerequisite checks shared by bench/run.mjs and the benches themselves.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** True when `tool` is an executable file on PATH (or in /usr/sbin, /sbin). */
export function which(tool) {
  const path = process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  for (const dir of [...path.split(':'), '/usr/sbin', '/sbin']) {
    try {
      if (dir && statSync(join(dir, tool)).isFile()) return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

/** True when running as root. */
export function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Readable problems for a prerequisite list: { root?: boolean, tools?: string[], files?: string[] }
 * (files relative to `base`). Empty when everything is there.
 */
export function problems(req, base) {
  const out = [];
  if (req.root && !isRoot()) out.push('needs root (creates network namespaces)');
  const missing = (req.tools ?? []).filter((t) => !which(t));
  if (missing.length > 0) out.push(`missing tools: ${missing.join(', ')}`);
  const files = (req.files ?? []).filter((f) => !existsSync(join(base, f)));
  if (files.length > 0) out.push(`not built: ${files.join(', ')} (npm run build)`);
  return out;
}

/** Exit code a bench uses to say "skipped" (automake convention); reason on stderr. */
export const SKIP_EXIT_CODE = 77;
