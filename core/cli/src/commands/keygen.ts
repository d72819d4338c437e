/**
 * `rustynet keygen`: writes a node's Ed25519 identity key, the key pair of each backend, and
 * optionally a control-plane signing key. Private keys go to files (0600 in a 0700 directory)
 * and are never printed.
 */
import type { Command } from 'commander';
import { access, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RustynetError, type BackendPlugin } from '@rustynet/plugin-api';
import { daemonModule, type LoadedPlugin } from '../daemon-api.js';
import { table } from '../format.js';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption } from '../program.js';

/** File names written by keygen inside `--out`. */
export const KEY_FILES = {
  identityKey: 'identity.key',
  identityPub: 'identity.pub',
  controlPlaneKey: 'control-plane.key',
  controlPlanePub: 'control-plane.pub',
} as const;

/** What keygen wrote (public data only). */
export interface KeygenResult {
  dir: string;
  identity?: { publicKey: string; privateKeyFile: string; publicKeyFile: string };
  controlPlane?: { publicKey: string; privateKeyFile: string; publicKeyFile: string };
  /** By backend protocol id (the netmap `keys` field name). */
  backends: Record<string, { plugin: string; publicKey: string; directory: string; files: string[] }>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function nonEmptyDir(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length > 0;
  } catch {
    return false;
  }
}

/**
 * Generates the keys. Everything is checked first (plugins load, no target file exists), so a
 * failure leaves nothing behind.
 * @throws RustynetError `KEY_INVALID` if a key file already exists, `INVALID_INPUT` when there is
 *   nothing to do or a plugin is not a backend, loader errors (`PLUGIN_NOT_FOUND`, ...).
 */
export async function keygen(opts: {
  out: string;
  backends: string[];
  identity: boolean;
  controlPlane: boolean;
  cwd?: string;
}): Promise<KeygenResult> {
  const dir = resolve(opts.out);
  if (!opts.identity && !opts.controlPlane && opts.backends.length === 0) {
    throw new RustynetError('INVALID_INPUT', 'nothing to generate (--no-identity without --backend or --control-plane)', {
      field: '--out',
    });
  }
  const d = await daemonModule();
  const loaded: LoadedPlugin[] = [];
  let scratch: string | undefined;
  try {
    if (opts.backends.length > 0) {
      scratch = await mkdtemp(join(tmpdir(), 'rustynet-keygen-'));
      const services = d.createHostServices({ stateDir: scratch, logLevel: 'silent', processMetrics: false });
      for (const spec of opts.backends) {
        loaded.push(await d.loadPlugin(spec, { services, expectKind: 'backend', cwd: opts.cwd ?? process.cwd() }));
      }
    }
    // Validate the whole batch before writing anything.
    const targets: string[] = [];
    if (opts.identity) targets.push(join(dir, KEY_FILES.identityKey), join(dir, KEY_FILES.identityPub));
    if (opts.controlPlane) targets.push(join(dir, KEY_FILES.controlPlaneKey), join(dir, KEY_FILES.controlPlanePub));
    const protocols = new Set<string>();
    for (const p of loaded) {
      const protocol = p.manifest.backend?.protocol;
      if (p.instance.kind !== 'backend' || !protocol) {
        throw new RustynetError('INVALID_INPUT', `${p.manifest.name} is not a backend plugin`, { field: '--backend' });
      }
      if (protocols.has(protocol)) {
        throw new RustynetError('INVALID_INPUT', `two backends share the protocol "${protocol}"`, { field: '--backend' });
      }
      protocols.add(protocol);
      if (await nonEmptyDir(join(dir, protocol))) {
        throw new RustynetError('KEY_INVALID', `${join(dir, protocol)} already holds files; refusing to overwrite keys`, {
          field: '--out',
        });
      }
    }
    for (const t of targets) {
      if (await exists(t)) throw new RustynetError('KEY_INVALID', `${t} exists; refusing to overwrite a key`, { field: '--out' });
    }

    await mkdir(dir, { recursive: true, mode: 0o700 });
    const result: KeygenResult = { dir, backends: {} };
    if (opts.identity) {
      const kp = d.generateEd25519KeyPair();
      const privateKeyFile = join(dir, KEY_FILES.identityKey);
      const publicKeyFile = join(dir, KEY_FILES.identityPub);
      await d.writeKeyFile(privateKeyFile, kp.privateKeyPem);
      await writeFile(publicKeyFile, `${kp.publicKeyB64}\n`, { mode: 0o644 });
      result.identity = { publicKey: kp.publicKeyB64, privateKeyFile, publicKeyFile };
    }
    if (opts.controlPlane) {
      const kp = d.generateEd25519KeyPair();
      const privateKeyFile = join(dir, KEY_FILES.controlPlaneKey);
      const publicKeyFile = join(dir, KEY_FILES.controlPlanePub);
      await d.writeKeyFile(privateKeyFile, kp.privateKeyPem);
      await writeFile(publicKeyFile, `${kp.publicKeyB64}\n`, { mode: 0o644 });
      result.controlPlane = { publicKey: kp.publicKeyB64, privateKeyFile, publicKeyFile };
    }
    for (const p of loaded) {
      const protocol = p.manifest.backend?.protocol;
      if (protocol === undefined)
        throw new RustynetError('MANIFEST_INVALID', `plugin ${p.manifest.name}: backend section missing`, { field: 'backend' });
      const directory = join(dir, protocol);
      const pair = await (p.instance as BackendPlugin).generateKeyPair(directory);
      result.backends[protocol] = { plugin: p.manifest.name, publicKey: pair.publicKey, directory, files: pair.files };
    }
    return result;
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

/** Registers `keygen`. */
export function register(program: Command): void {
  const cmd = program
    .command('keygen')
    .description(
      "generate a node's keys: Ed25519 identity (identity.key, 0600, + identity.pub), one key pair per backend " +
        '(in <dir>/<protocol>/), and optionally a control-plane signing key. Prints public keys only.',
    )
    .requiredOption('--out <dir>', 'directory to write keys into (created 0700)')
    .option('--backend <plugin...>', 'backend plugin (package name or path) whose key pair to generate; repeatable', [])
    .option('--control-plane', 'also write a control-plane signing key (control-plane.key + control-plane.pub)')
    .option('--no-identity', 'do not write the node identity key');
  addJsonOption(cmd);
  addExamples(cmd, [
    'rustynet keygen --out /etc/rustynet/keys --backend @rustynet/backend-wireguard',
    'rustynet keygen --out ./cp --control-plane --no-identity     # control-plane key only',
    'rustynet keygen --out ./keys --backend ./my-backend --json',
  ]);
  cmd.action(async (opts: { out: string; backend: string[]; controlPlane?: boolean; identity: boolean; json?: boolean }) => {
    const res = await keygen({ out: opts.out, backends: opts.backend, identity: opts.identity, controlPlane: !!opts.controlPlane });
    if (opts.json) return printJson(res);
    const rows: string[][] = [];
    if (res.identity) rows.push(['identity', res.identity.publicKey, res.identity.publicKeyFile]);
    for (const [protocol, b] of Object.entries(res.backends)) rows.push([`keys.${protocol}`, b.publicKey, b.directory]);
    if (res.controlPlane) rows.push(['control-plane', res.controlPlane.publicKey, res.controlPlane.publicKeyFile]);
    io().out(table(['KEY', 'PUBLIC KEY', 'FILE'], rows));
  });
}
