import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isRustynetError, SUPPORTED_API_VERSIONS, negotiateApiVersion, type PluginKind } from '@rustynet/plugin-api';
import { validatePluginOptions } from '../loader/load-plugin.js';
import { readManifest } from '../loader/manifest.js';
import { readPrivateKeyFile } from '../services/key-store.js';
import { FileStateStore } from '../services/state-store.js';
import { ControlKeySet } from '../trust/key-set.js';
import { verifySignedNetmap } from '../trust/verify.js';
import type { DaemonConfig } from './schema.js';

/** One result of {@link checkDaemonConfig}. */
export interface ConfigCheck {
  /** The config field checked (`backend.plugin`, `plugins[1].options.port`, `netmap.file`...). */
  field: string;
  /** `ok`; `warn` (works, but should be fixed); `fail` (the daemon would not start or would fail closed). */
  result: 'ok' | 'warn' | 'fail';
  /** What was found (`@rustynet/relay 0.1.0, relay plugin, API 1`) or what is wrong. */
  message: string;
  /** The error code of a failure (`PLUGIN_NOT_FOUND`, `CONFIG_INVALID`, `KEY_INVALID`...). */
  code?: string;
}

/**
 * A failed check of `field`. With `nested`, the error's own `field` (e.g. `options.port` from an
 * options schema) is appended: `plugins[0]` + `options.port`.
 */
function fail(field: string, err: unknown, fallbackCode = 'CONFIG_INVALID', nested = false): ConfigCheck {
  const code = isRustynetError(err) ? err.code : fallbackCode;
  const inner = nested && isRustynetError(err) && err.field ? err.field : undefined;
  return { field: inner ? `${field}.${inner}` : field, result: 'fail', message: (err as Error).message, code };
}

async function checkPlugin(
  field: string,
  spec: string,
  options: Record<string, unknown> | undefined,
  kind: 'backend' | 'other',
  cwd: string,
): Promise<ConfigCheck[]> {
  let found: Awaited<ReturnType<typeof readManifest>>;
  try {
    found = await readManifest(spec, cwd);
  } catch (err) {
    return [fail(`${field}.plugin`, err, 'PLUGIN_NOT_FOUND')];
  }
  const { manifest, dir } = found;
  const isBackend = manifest.kind === ('backend' satisfies PluginKind);
  if ((kind === 'backend') !== isBackend) {
    const want = kind === 'backend' ? 'a backend plugin' : 'a policy, dns or relay plugin (the backend goes under backend.plugin)';
    return [
      {
        field: `${field}.plugin`,
        result: 'fail',
        code: 'PLUGIN_LOAD_FAILED',
        message: `${manifest.name} is a ${manifest.kind} plugin; ${want} is required here`,
      },
    ];
  }
  const api = negotiateApiVersion(SUPPORTED_API_VERSIONS, manifest.apiVersions);
  if (api === undefined) {
    return [
      {
        field: `${field}.plugin`,
        result: 'fail',
        code: 'API_VERSION_MISMATCH',
        message: `${manifest.name} implements API versions [${manifest.apiVersions.join(', ')}], this daemon supports [${SUPPORTED_API_VERSIONS.join(', ')}]`,
      },
    ];
  }
  const out: ConfigCheck[] = [];
  try {
    const mod = (await import(pathToFileURL(join(dir, manifest.entry)).href)) as { createPlugin?: unknown };
    if (typeof mod.createPlugin !== 'function') throw new Error(`entry ${manifest.entry} does not export createPlugin`);
    out.push({
      field: `${field}.plugin`,
      result: 'ok',
      message: `${manifest.name} ${manifest.version}, ${manifest.kind} plugin, API ${api} (${dir})`,
    });
  } catch (err) {
    out.push({
      field: `${field}.plugin`,
      result: 'fail',
      code: 'PLUGIN_LOAD_FAILED',
      message: `${manifest.name}: ${(err as Error).message}`,
    });
  }
  try {
    validatePluginOptions(manifest, options);
    const n = Object.keys(options ?? {}).length;
    out.push({
      field: `${field}.options`,
      result: 'ok',
      message: manifest.configSchema
        ? `${n} option(s) valid against ${manifest.name}'s configSchema`
        : `${manifest.name} declares no configSchema`,
    });
  } catch (err) {
    out.push(fail(field, err, 'CONFIG_INVALID', true));
  }
  return out;
}

async function checkKeyDirectory(dir: string): Promise<ConfigCheck> {
  const field = 'backend.keyDirectory';
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return { field, result: 'fail', code: 'KEY_INVALID', message: `${dir} is not a directory` };
    if ((st.mode & 0o077) !== 0) {
      return { field, result: 'warn', message: `${dir} is mode ${(st.mode & 0o777).toString(8)}; make it 0700 (chmod 700 ${dir})` };
    }
    return { field, result: 'ok', message: `${dir} exists (mode 0700)` };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'ENOENT' ? '; create the keys with: rustynet keygen' : '';
    return { field, result: 'fail', code: 'KEY_INVALID', message: `${dir}: ${e.code ?? e.message}${hint}` };
  }
}

async function checkNetmap(cfg: DaemonConfig, now: number): Promise<ConfigCheck> {
  const n = cfg.netmap;
  if (!('file' in n)) {
    const src = 'url' in n ? `URL ${n.url}` : `control plane ${n.control.url}`;
    return { field: 'netmap', result: 'ok', message: `fetched from the ${src} at run time (not checked here)` };
  }
  const field = 'netmap.file';
  let text: string;
  try {
    text = await readFile(n.file, 'utf8');
  } catch (err) {
    return {
      field,
      result: 'fail',
      code: 'NETMAP_INVALID',
      message: `${n.file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    };
  }
  try {
    // The daemon's trust set: the pinned keys and those learned from a rotation (read only).
    const trusted = new ControlKeySet([cfg.controlPlaneKey, ...(cfg.controlPlaneKeys ?? [])], new FileStateStore(cfg.stateDir));
    await trusted.load();
    const map = verifySignedNetmap(JSON.parse(text), (keyId) => trusted.keyFor(keyId).key, { now });
    if (!map.nodes.some((x) => x.id === cfg.node)) {
      return {
        field: 'node',
        result: 'fail',
        code: 'CONFIG_INVALID',
        message: `node ${cfg.node} is not in the netmap (version ${map.version})`,
      };
    }
    return {
      field,
      result: 'ok',
      message: `version ${map.version}, signed by the control-plane key, ${map.nodes.length} nodes, expires ${map.expiresAt}`,
    };
  } catch (err) {
    // An expired map is not a config error: the daemon starts, stays failed closed and takes the
    // next fresh map (a node powered off past its map's expiry must still come up).
    if (isRustynetError(err) && err.code === 'NETMAP_EXPIRED') {
      return { field, result: 'warn', code: err.code, message: `${err.message}; the daemon fails closed until a fresh netmap arrives` };
    }
    return fail(field, err, 'NETMAP_INVALID');
  }
}

/**
 * Checks a loaded daemon config (from `loadDaemonConfig`, paths absolute) the way `rustynetd
 * --check` reports it: every plugin is found, its manifest read, its API version negotiated, its
 * entry imported (no `createPlugin` call: nothing starts) and its options validated against its
 * `configSchema`; the key directory and the identity key file exist with private modes; a netmap
 * file verifies against a trusted control-plane key (pinned, or learned from a rotation) and lists `node` (an expired one is a `warn`: the daemon
 * starts failed closed and waits for a fresh map). Changes nothing.
 * @param cwd where package-name plugin specs are resolved from (as the daemon would).
 * @returns one entry per checked field; any `fail` means the daemon would not start (or would
 *   fail closed at once).
 */
export async function checkDaemonConfig(cfg: DaemonConfig, cwd: string, now: number = Date.now()): Promise<ConfigCheck[]> {
  const checks: ConfigCheck[] = [{ field: 'config', result: 'ok', message: `schema valid (node ${cfg.node})` }];
  checks.push(...(await checkPlugin('backend', cfg.backend.plugin, cfg.backend.options, 'backend', cwd)));
  for (const [i, p] of (cfg.plugins ?? []).entries())
    checks.push(...(await checkPlugin(`plugins[${i}]`, p.plugin, p.options, 'other', cwd)));
  checks.push(await checkKeyDirectory(cfg.backend.keyDirectory));
  if (cfg.identityKeyFile !== undefined) {
    try {
      await readPrivateKeyFile(cfg.identityKeyFile);
      checks.push({ field: 'identityKeyFile', result: 'ok', message: `${cfg.identityKeyFile} readable, mode 0600` });
    } catch (err) {
      checks.push(fail('identityKeyFile', err, 'KEY_INVALID'));
    }
  }
  if ('control' in cfg.netmap) {
    try {
      await stat(cfg.netmap.control.authKeyFile);
      checks.push({ field: 'netmap.control.authKeyFile', result: 'ok', message: `${cfg.netmap.control.authKeyFile} exists` });
    } catch (err) {
      checks.push({ field: 'netmap.control.authKeyFile', result: 'fail', code: 'KEY_INVALID', message: (err as Error).message });
    }
  }
  checks.push(await checkNetmap(cfg, now));
  return checks;
}
