/**
 * `rustynet service install`: writes the systemd units (rustynetd, and the relay with `--relay`)
 * and a default `/etc/rustynet/rustynetd.json`, so the daemon runs as a hardened service.
 * See docs/operations/production.md.
 */
import type { Command } from 'commander';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidInput, NODE_ID_PATTERN, RustynetError } from '@rustynet/plugin-api';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption } from '../program.js';
import { RUSTYNETD_NODE_FLAGS } from '../node-flags.js';

/** The unit templates shipped in this package (`core/cli/systemd/`). */
export const UNIT_DIR = fileURLToPath(new URL('../../../systemd/', import.meta.url));
const BIN_DIR = fileURLToPath(new URL('../bin/', import.meta.url));

/** One file `install` writes (or would write). */
export interface PlannedFile {
  /** Where it is written (under `--root`). */
  path: string;
  mode: number;
  /** `create`, `replace` (units are always refreshed), `keep` (an existing config is never overwritten). */
  action: 'create' | 'replace' | 'keep';
  content: string;
}

/** Options of {@link planInstall}. */
export interface InstallOptions {
  /** Staging root every path is written under (like DESTDIR); `/` installs for real. */
  root: string;
  relay: boolean;
  node: string;
  controlPlaneKey: string;
  netmap: string;
  backend: string;
  interfaceName: string;
  stateDir: string;
  socket: string;
  metricsPort?: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The unit text with the templates' `/usr/local/bin/<prog>` replaced by `<node> <this package>/dist/src/bin/<prog>.js`
 * (for `rustynetd` with {@link RUSTYNETD_NODE_FLAGS} before the script).
 */
export function renderUnit(template: string, nodePath = process.execPath, binDir = BIN_DIR): string {
  return template.replace(/\/usr\/local\/bin\/(rustynetd|rustynet)\b/g, (_, prog: string) =>
    [nodePath, ...(prog === 'rustynetd' ? RUSTYNETD_NODE_FLAGS : []), join(binDir, `${prog}.js`)].join(' '),
  );
}

/** The default daemon configuration `install` writes (absolute paths; edit it, then run `rustynetd --check`). */
export function defaultDaemonConfig(o: InstallOptions): Record<string, unknown> {
  const netmap = /^https?:\/\//.test(o.netmap) ? { url: o.netmap } : { file: o.netmap };
  // `rustynet keygen --out <stateDir>/keys` puts a backend's pair under its protocol id; the
  // default guesses it from the package name (`@scope/backend-<id>` -> `<id>`): edit if it differs.
  const protocol = (o.backend.split('/').pop() ?? o.backend).replace(/^(rustynet-)?backend-/, '') || 'backend';
  return {
    node: o.node,
    stateDir: o.stateDir,
    socket: o.socket,
    controlPlaneKey: o.controlPlaneKey,
    identityKeyFile: join(o.stateDir, 'keys', 'identity.key'),
    netmap,
    backend: { plugin: o.backend, interfaceName: o.interfaceName, keyDirectory: join(o.stateDir, 'keys', protocol) },
    log: { level: 'info' },
    metrics: { listen: { host: '127.0.0.1', port: o.metricsPort ?? 9469 }, peerLabelLimit: 64 },
  };
}

/**
 * The relay's identity key as rustynet-relay.service loads it (`LoadCredential=`): made once by
 * `rustynet keygen --out /etc/rustynet/relay` (0600 in a 0700 folder, with identity.pub beside it).
 */
export const RELAY_IDENTITY_KEY = '/etc/rustynet/relay/identity.key';

const RELAY_ENV = `# Settings of rustynet-relay.service (see docs/relay.md). Restart the service after a change.
# The identity key is not set here: the unit loads ${RELAY_IDENTITY_KEY} (rustynet keygen --out /etc/rustynet/relay).
RUSTYNET_RELAY_LISTEN=0.0.0.0:3478
RUSTYNET_RELAY_NETMAP=/etc/rustynet/netmap.json
RUSTYNET_RELAY_CONTROL_PLANE_KEY=/etc/rustynet/control-plane.pub
# Metrics and health (GET /metrics, /healthz, /readyz); keep it on loopback or a management network.
RUSTYNET_RELAY_METRICS=127.0.0.1:9470
# Further options, e.g. --relay-id relay-1 --max-sessions-per-node 4
RUSTYNET_RELAY_ARGS=
`;

/** Works out the files to write; reads the templates and what exists, writes nothing. */
export async function planInstall(o: InstallOptions): Promise<PlannedFile[]> {
  const under = (p: string): string => join(o.root, p);
  const units = ['rustynetd.service', ...(o.relay ? ['rustynet-relay.service'] : [])];
  const files: PlannedFile[] = [];
  for (const u of units) {
    const path = under(`/etc/systemd/system/${u}`);
    const content = renderUnit(await readFile(join(UNIT_DIR, u), 'utf8'));
    files.push({ path, mode: 0o644, action: (await exists(path)) ? 'replace' : 'create', content });
  }
  const cfgPath = under('/etc/rustynet/rustynetd.json');
  files.push({
    path: cfgPath,
    mode: 0o600,
    action: (await exists(cfgPath)) ? 'keep' : 'create',
    content: `${JSON.stringify(defaultDaemonConfig(o), null, 2)}\n`,
  });
  if (o.relay) {
    const envPath = under('/etc/rustynet/relay.env');
    files.push({ path: envPath, mode: 0o644, action: (await exists(envPath)) ? 'keep' : 'create', content: RELAY_ENV });
  }
  return files;
}

/** Writes the planned files (each atomically: temp file, chmod, rename); `keep` files are left alone. */
export async function applyInstall(files: readonly PlannedFile[]): Promise<void> {
  for (const f of files) {
    if (f.action === 'keep') continue;
    try {
      await mkdir(dirname(f.path), { recursive: true, mode: 0o755 });
      const tmp = `${f.path}.tmp-${process.pid}`;
      await writeFile(tmp, f.content, { mode: f.mode });
      await chmod(tmp, f.mode);
      await rename(tmp, f.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new RustynetError('PERMISSION_DENIED', `cannot write ${f.path} (${code}): run as root, or stage with --root <dir>`, {
          cause: err,
        });
      }
      throw err;
    }
  }
}

interface InstallFlags {
  root: string;
  relay?: boolean;
  node?: string;
  controlPlaneKey?: string;
  netmap: string;
  backend: string;
  interface: string;
  stateDir: string;
  socket: string;
  metricsPort?: string;
  dryRun?: boolean;
  json?: boolean;
}

async function readKey(value: string | undefined): Promise<string> {
  if (value === undefined) return 'REPLACE-WITH-CONTROL-PLANE-PUBLIC-KEY';
  const v = value.trim();
  if (/^[A-Za-z0-9+/]{43}=$/.test(v)) return v;
  try {
    const k = (await readFile(v, 'utf8')).trim();
    if (/^[A-Za-z0-9+/]{43}=$/.test(k)) return k;
  } catch {
    /* reported below */
  }
  throw invalidInput('--control-plane-key', 'not a base64 Ed25519 public key (44 characters) nor a file holding one');
}

/** Registers `service install`. */
export function register(program: Command): void {
  const service = program.command('service').description('run Rustynet under systemd (see docs/operations/production.md)');
  const install = service
    .command('install')
    .description('write the systemd unit(s) and a default /etc/rustynet/rustynetd.json (an existing config is kept)')
    .option('--root <dir>', 'write everything under this directory instead of / (staging, packaging, tests)', '/')
    .option('--relay', 'also install rustynet-relay.service and /etc/rustynet/relay.env')
    .option('--node <id>', "this node's id in the netmap (default: the host name)")
    .option('--control-plane-key <key|file>', 'control-plane public key (base64) or a file holding it')
    .option('--netmap <file|url>', 'netmap source: a signed netmap file or an http(s) URL', '/etc/rustynet/netmap.json')
    .option('--backend <plugin>', 'backend plugin package', '@rustynet/backend-wireguard')
    .option('--interface <name>', 'tunnel interface name', 'rustynet0')
    .option('--state-dir <dir>', 'state directory (keys under <dir>/keys)', '/var/lib/rustynet')
    .option('--socket <path>', 'local API socket', '/run/rustynet/rustynetd.sock')
    .option('--metrics-port <port>', 'loopback port of /metrics, /healthz, /readyz', '9469')
    .option('--dry-run', 'print what would be written; write nothing');
  addJsonOption(install);
  install.addHelpText(
    'after',
    `
Then (as root): rustynet keygen --out /var/lib/rustynet/keys ...; edit /etc/rustynet/rustynetd.json;
  rustynetd --check && systemctl daemon-reload && systemctl enable --now rustynetd`,
  );
  addExamples(install, [
    'rustynet service install --dry-run',
    'sudo rustynet service install --node web-1 --control-plane-key /etc/rustynet/control-plane.pub',
    'rustynet service install --root ./pkgroot --relay --json',
  ]);
  install.action(async (f: InstallFlags) => {
    const node =
      f.node ??
      hostname()
        .toLowerCase()
        .replace(/[^a-z0-9-]/g, '-');
    if (!new RegExp(NODE_ID_PATTERN).test(node)) throw invalidInput('--node', `"${node}" is not a valid node id (${NODE_ID_PATTERN})`);
    const metricsPort = Number(f.metricsPort ?? '9469');
    if (!Number.isInteger(metricsPort) || metricsPort < 1 || metricsPort > 65535) throw invalidInput('--metrics-port', 'must be 1..65535');
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(f.interface)) throw invalidInput('--interface', 'at most 15 characters of [A-Za-z0-9_.-]');
    const opts: InstallOptions = {
      root: resolve(f.root),
      relay: f.relay === true,
      node,
      controlPlaneKey: await readKey(f.controlPlaneKey),
      netmap: f.netmap,
      backend: f.backend,
      interfaceName: f.interface,
      stateDir: f.stateDir,
      socket: f.socket,
      metricsPort,
    };
    const files = await planInstall(opts);
    if (!f.dryRun) await applyInstall(files);
    const next = [
      ...(f.controlPlaneKey === undefined
        ? ['set "controlPlaneKey" in /etc/rustynet/rustynetd.json (a placeholder now: --check fails until then)']
        : []),
      `rustynet keygen --out ${join(opts.stateDir, 'keys')} --backend ${opts.backend}`,
      ...(opts.relay
        ? [`rustynet keygen --out ${dirname(RELAY_IDENTITY_KEY)}   (the relay's identity key; list identity.pub as relays[].identityKey)`]
        : []),
      'edit /etc/rustynet/rustynetd.json, then: rustynetd --check',
      `systemctl daemon-reload && systemctl enable --now rustynetd${opts.relay ? ' rustynet-relay' : ''}`,
    ];
    if (f.json) {
      printJson({ dryRun: f.dryRun === true, files: files.map((x) => ({ ...x, mode: x.mode.toString(8).padStart(4, '0') })), next });
      return;
    }
    const out = io();
    for (const x of files) {
      out.out(
        `${f.dryRun ? 'would ' : ''}${x.action === 'keep' ? 'keep (exists)' : x.action} ${x.path} (mode ${x.mode.toString(8).padStart(4, '0')})\n`,
      );
      if (f.dryRun && x.action !== 'keep') out.out(x.content.replace(/^/gm, '    ') + '\n');
    }
    out.out(`\nnext:\n${next.map((n) => `  ${n}`).join('\n')}\n`);
  });
}
