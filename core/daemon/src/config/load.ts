import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { RustynetError } from '@rustynet/plugin-api';
import { errorField, formatAjvErrors, sharedValidator } from '../util/ajv.js';
import { daemonConfigSchema, type DaemonConfig, type NetmapSourceConfig } from './schema.js';

/**
 * Validates a daemon config object against {@link daemonConfigSchema}.
 * @throws RustynetError `CONFIG_INVALID` whose message and `field` name the bad field
 *   (e.g. `backend.interfaceName`).
 */
export function validateDaemonConfig(value: unknown, where = 'daemon config'): DaemonConfig {
  const validate = sharedValidator<DaemonConfig>(daemonConfigSchema);
  if (!validate(value)) {
    // oneOf failures produce one error per branch; prefer the most specific (deepest) one.
    const errors = validate.errors ?? [];
    const first = [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
    throw new RustynetError('CONFIG_INVALID', `${where}: ${formatAjvErrors(errors)}`, { ...(first && { field: errorField(first) }) });
  }
  if ('control' in value.netmap && value.identityKeyFile === undefined) {
    throw new RustynetError('CONFIG_INVALID', `${where}: netmap.control needs identityKeyFile (the node enrols and signs polls with it)`, {
      field: 'identityKeyFile',
    });
  }
  return value;
}

function abs(base: string, p: string): string {
  return isAbsolute(p) ? p : resolve(base, p);
}

/** `netmap` with its file paths resolved against `base`. */
function netmapPaths(n: NetmapSourceConfig, base: string): NetmapSourceConfig {
  if ('file' in n) return { ...n, file: abs(base, n.file) };
  if ('control' in n) {
    const c = n.control;
    return {
      ...n,
      control: { ...c, authKeyFile: abs(base, c.authKeyFile), ...(c.caFile !== undefined && { caFile: abs(base, c.caFile) }) },
    };
  }
  return n;
}

/**
 * Reads and validates a daemon config file. Relative paths in it (state dir, socket, key files,
 * netmap file, control auth key and CA files, log file, and plugin specs starting with `.`) are resolved against the config
 * file's directory.
 * @throws RustynetError `CONFIG_INVALID` (unreadable, not JSON, or not matching the schema).
 */
export async function loadDaemonConfig(path: string): Promise<DaemonConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RustynetError('CONFIG_INVALID', `${path}: cannot be read (${(err as Error).message})`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new RustynetError('CONFIG_INVALID', `${path}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const cfg = validateDaemonConfig(parsed, path);
  const base = dirname(resolve(path));
  const specOf = (s: string): string => (s.startsWith('.') ? resolve(base, s) : s);
  return {
    ...cfg,
    stateDir: abs(base, cfg.stateDir),
    socket: abs(base, cfg.socket),
    ...(cfg.identityKeyFile !== undefined && { identityKeyFile: abs(base, cfg.identityKeyFile) }),
    netmap: netmapPaths(cfg.netmap, base),
    backend: { ...cfg.backend, plugin: specOf(cfg.backend.plugin), keyDirectory: abs(base, cfg.backend.keyDirectory) },
    ...(cfg.plugins && { plugins: cfg.plugins.map((p) => ({ ...p, plugin: specOf(p.plugin) })) }),
    ...(cfg.log && { log: { ...cfg.log, ...(cfg.log.file !== undefined && { file: abs(base, cfg.log.file) }) } }),
  };
}
