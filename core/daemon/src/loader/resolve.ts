import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_FILE, RustynetError } from '@rustynet/plugin-api';

/** True when `spec` is a path (starts with `.` or `/`) rather than a package name. */
export function isPathSpec(spec: string): boolean {
  return spec.startsWith('.') || isAbsolute(spec);
}

function hasManifest(dir: string): boolean {
  return existsSync(join(dir, MANIFEST_FILE));
}

function resolvePackageDir(name: string, fromDir: string): string | undefined {
  try {
    const req = createRequire(join(fromDir, '__rustynet_resolve__.js'));
    return dirname(req.resolve(`${name}/package.json`));
  } catch {
    /* fall through: packages whose exports hide package.json */
  }
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Directory of the daemon package itself, used as a second place to resolve plugins from. */
const DAEMON_DIR = dirname(fileURLToPath(import.meta.url));

/**
 * Finds a plugin's directory (the one holding `rustynet-plugin.json`).
 *
 * - A path spec (`./x`, `/opt/x`) is resolved against `cwd`.
 * - A package name is resolved like Node does (`createRequire` from `cwd`, `<name>/package.json`),
 *   then from the daemon's own install location.
 * @throws RustynetError `PLUGIN_NOT_FOUND` naming the spec and where it looked.
 */
export function resolvePluginDir(spec: string, cwd: string = process.cwd()): string {
  if (typeof spec !== 'string' || spec.length === 0) throw new RustynetError('PLUGIN_NOT_FOUND', 'empty plugin spec', { field: 'plugin' });
  if (isPathSpec(spec)) {
    const dir = resolve(cwd, spec);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new RustynetError('PLUGIN_NOT_FOUND', `plugin ${spec}: no directory at ${dir}`, { plugin: spec, details: { path: dir } });
    }
    if (!hasManifest(dir)) {
      throw new RustynetError('PLUGIN_NOT_FOUND', `plugin ${spec}: ${join(dir, MANIFEST_FILE)} does not exist`, {
        plugin: spec,
        details: { path: dir },
      });
    }
    return dir;
  }
  const dir = resolvePackageDir(spec, resolve(cwd)) ?? resolvePackageDir(spec, DAEMON_DIR);
  if (!dir) {
    throw new RustynetError('PLUGIN_NOT_FOUND', `plugin ${spec}: package not found from ${resolve(cwd)}`, { plugin: spec });
  }
  if (!hasManifest(dir)) {
    throw new RustynetError('PLUGIN_NOT_FOUND', `plugin ${spec}: package at ${dir} has no ${MANIFEST_FILE}`, {
      plugin: spec,
      details: { path: dir },
    });
  }
  return dir;
}
