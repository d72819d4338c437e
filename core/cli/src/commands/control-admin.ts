/** What every `rustynet control` admin command shares: loading the package, the admin socket, one call. */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RustynetError, isRustynetError } from '@rustynet/plugin-api';
import type * as ControlModule from '@rustynet/control';
import { io, printJson } from '../io.js';
import { addJsonOption } from '../program.js';

/** Default data directory of the control plane. */
export const DEFAULT_CONTROL_DATA = '/var/lib/rustynet-control';

/** Loads `@rustynet/control` (and its native SQLite module) on demand. */
export async function controlModule(): Promise<typeof ControlModule> {
  try {
    return await import('@rustynet/control');
  } catch (cause) {
    throw new RustynetError('INTERNAL', `cannot load @rustynet/control: ${(cause as Error).message}`, { cause });
  }
}

/** Options every admin command takes. */
export interface AdminOpts {
  data?: string;
  adminSocket?: string;
  json?: boolean;
}

/** Adds `--json`, `--data` and `--admin-socket` to an admin command. */
export function addAdminOptions(cmd: Command): Command {
  return addJsonOption(cmd)
    .option('--data <dir>', `control-plane data directory (env RUSTYNET_CONTROL_DATA; default ${DEFAULT_CONTROL_DATA})`)
    .option('--admin-socket <path>', 'admin socket (default <data>/admin.sock)');
}

/** An admin client on the control plane's admin socket. */
export async function admin(opts: AdminOpts): Promise<ControlModule.AdminClient> {
  const m = await controlModule();
  const data = opts.data ?? io().env['RUSTYNET_CONTROL_DATA'] ?? DEFAULT_CONTROL_DATA;
  return new m.AdminClient(opts.adminSocket ?? join(data, m.ADMIN_SOCKET));
}

/**
 * One admin API call; with `--json`, a failure is also printed as `{ ok: false, error }`.
 * @throws RustynetError the control plane's error.
 */
export async function call(opts: AdminOpts, method: string, path: string, body?: unknown): Promise<unknown> {
  try {
    return await (await admin(opts)).call(method, path, body);
  } catch (err) {
    if (opts.json && isRustynetError(err)) printJson({ ok: false, error: err.toJSON() });
    throw err;
  }
}

/**
 * Reads and parses a JSON file (`-`: standard input).
 * @throws RustynetError `INVALID_INPUT` naming `field` when it cannot be read or is not JSON.
 */
export async function readJsonFile(path: string, field: string): Promise<unknown> {
  let text: string;
  try {
    text = path === '-' ? await io().readStdin() : await readFile(path, 'utf8');
  } catch (cause) {
    throw new RustynetError('INVALID_INPUT', `cannot read ${path}: ${(cause as Error).message}`, { field, cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new RustynetError('INVALID_INPUT', `${path} is not JSON: ${(cause as Error).message}`, { field, cause });
  }
}
