/**
 * Ownership of the device across crashes: a record file this backend writes at start (0600,
 * atomic) and removes at stop, and, at the next start, the replacement of a device of the same
 * name that a crashed instance left behind (the link and its orphaned wireguard-go, which would
 * otherwise keep serving the old peer set, so a revocation could not take effect).
 */
import { mkdir, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RustynetError, type Logger } from '@rustynet/plugin-api';
import { writeFileAtomic, type CallScope } from '@rustynet/plugin-kit';
import { linkExists, socketPath, socketState } from './device.js';
import type { Tools } from './tools.js';

/** What the record file says about a device this backend created. */
export interface DeviceRecord {
  interfaceName: string;
  nodeId: string;
  kind: 'kernel' | 'userspace';
  /** pid of the wireguard-go process (userspace), else null. */
  pid: number | null;
  /** ISO time of the start. */
  startedAt: string;
}

/** Path of the record of `interfaceName` in the plugin's private state directory. */
export function recordPath(stateDir: string, interfaceName: string): string {
  return join(stateDir, `device-${interfaceName}.json`);
}

/**
 * Writes the record (0600, atomic with fsync). Best effort: a failure (e.g. a full disk) is
 * logged, and a device left by a crash without a record is then refused at the next start.
 */
export async function writeDeviceRecord(stateDir: string, rec: DeviceRecord, logger: Logger): Promise<void> {
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(recordPath(stateDir, rec.interfaceName), `${JSON.stringify(rec)}\n`, { mode: 0o600 });
  } catch (err) {
    logger.warn({ interfaceName: rec.interfaceName, err: String(err) }, 'could not write the device record');
  }
}

/** Removes the record (after a clean stop). Never throws. */
export async function removeDeviceRecord(stateDir: string, interfaceName: string): Promise<void> {
  await rm(recordPath(stateDir, interfaceName), { force: true }).catch(() => undefined);
}

/** The record of `interfaceName`, or undefined when there is none or it is unreadable. */
export async function readDeviceRecord(stateDir: string, interfaceName: string): Promise<DeviceRecord | undefined> {
  try {
    const v = JSON.parse(await readFile(recordPath(stateDir, interfaceName), 'utf8')) as Partial<DeviceRecord>;
    if (v.interfaceName !== interfaceName || typeof v.nodeId !== 'string') return undefined;
    return {
      interfaceName,
      nodeId: v.nodeId,
      kind: v.kind === 'kernel' ? 'kernel' : 'userspace',
      pid: typeof v.pid === 'number' ? v.pid : null,
      startedAt: typeof v.startedAt === 'string' ? v.startedAt : '',
    };
  } catch {
    return undefined;
  }
}

/** The argv of `pid`, or undefined when it is gone. */
async function argvOf(pid: number): Promise<string[] | undefined> {
  const raw = await readFile(`/proc/${pid}/cmdline`).catch(() => undefined);
  return raw ? raw.toString('utf8').split('\0').filter(Boolean) : undefined;
}

/** True when `pid` runs wireguard-go for `interfaceName` (its last argument). */
async function isWireguardGoFor(pid: number, interfaceName: string): Promise<boolean> {
  const argv = await argvOf(pid);
  if (!argv || argv.length < 2) return false;
  return (argv[0] ?? '').endsWith('wireguard-go') && argv[argv.length - 1] === interfaceName;
}

/**
 * pids of the processes holding the unix socket bound at `path`: its inode from `/proc/net/unix`
 * (of this network namespace), then every `/proc/<pid>/fd/*` that links to `socket:[inode]`.
 */
export async function socketOwners(path: string): Promise<number[]> {
  const table = await readFile('/proc/net/unix', 'utf8').catch(() => '');
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[7] === path && f[6] !== undefined) inodes.add(f[6]);
  }
  if (inodes.size === 0) return [];
  const owners: number[] = [];
  for (const d of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const fds = await readdir(`/proc/${d}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${d}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m?.[1] !== undefined && inodes.has(m[1])) {
        owners.push(Number(d));
        break;
      }
    }
  }
  return owners;
}

/** True while `pid` exists and is not a zombie (an orphan's zombie waits for init to reap it). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (!stat) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** The pids of `pids` that are {@link alive}. */
async function living(pids: number[]): Promise<number[]> {
  const out: number[] = [];
  for (const pid of pids) if (await alive(pid)) out.push(pid);
  return out;
}

/**
 * SIGKILL (an orphan holds nothing worth a clean exit: its device is replaced, and wireguard-go
 * lingers for seconds on SIGTERM), then up to 2 s for the processes to go.
 * @returns pids still alive.
 */
async function endProcesses(pids: number[], scope: CallScope): Promise<number[]> {
  for (const pid of await living(pids)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 80 && (await living(pids)).length > 0; i++) await scope.sleep(25);
  return living(pids);
}

/**
 * Before creating `interfaceName`: if a link of that name exists in this network namespace, or a
 * live wireguard-go control socket of that name, replace it when it is ours — our record names
 * it (the record lives in this plugin instance's private state directory) and any process
 * serving it is `wireguard-go ... <interfaceName>` found through its control socket or the
 * recorded pid — by killing that process (SIGKILL) and deleting the link and socket. Otherwise refuse.
 * @returns true when a stale device was replaced.
 * @throws RustynetError `BACKEND_FAILED` (field `interfaceName`) when a device of that name
 *   exists and is not ours, or cannot be removed; `TIMEOUT`, `ABORTED` from `scope`.
 */
export async function replaceStaleDevice(
  tools: Tools,
  stateDir: string,
  interfaceName: string,
  scope: CallScope,
  logger: Logger,
): Promise<boolean> {
  const sock = socketPath(interfaceName);
  const linkPresent = await linkExists(tools, interfaceName, scope);
  const sockState = await socketState(sock);
  if (!linkPresent && sockState !== 'live') return false;
  const rec = await readDeviceRecord(stateDir, interfaceName);
  if (!rec) {
    throw new RustynetError(
      'BACKEND_FAILED',
      linkPresent
        ? `a network interface named ${interfaceName} exists already and is not ours (no device record in ${stateDir})`
        : `interface name ${interfaceName} is in use by another wireguard-go on this host (${sock}); ` +
            'userspace interface names must be unique per host, across network namespaces',
      { field: 'interfaceName', details: { socket: sock, linkPresent } },
    );
  }
  // The recorded pid first (cheap); the control socket's owners (a scan of /proc) only when it
  // is not the process serving our name.
  const orphans: number[] = [];
  if (rec.pid !== null && (await isWireguardGoFor(rec.pid, interfaceName))) orphans.push(rec.pid);
  if (orphans.length === 0 && sockState === 'live') {
    for (const pid of await socketOwners(sock)) if (await isWireguardGoFor(pid, interfaceName)) orphans.push(pid);
  }
  if (sockState === 'live' && orphans.length === 0) {
    throw new RustynetError(
      'BACKEND_FAILED',
      `interface name ${interfaceName} is served by a process that is not our wireguard-go (${sock})`,
      { field: 'interfaceName', details: { socket: sock } },
    );
  }
  logger.warn(
    { interfaceName, orphans, linkPresent, recordedAt: rec.startedAt },
    'replacing a device of our own name left behind by a crashed instance',
  );
  const left = orphans.length > 0 ? await endProcesses(orphans, scope) : [];
  if (left.length > 0) {
    throw new RustynetError('BACKEND_FAILED', `orphaned wireguard-go (pids ${left.join(', ')}) of ${interfaceName} did not exit`, {
      field: 'interfaceName',
    });
  }
  // The killed wireguard-go takes its TUN device with it, possibly between the check and the
  // delete: a device that vanished meanwhile is what we wanted.
  if (await linkExists(tools, interfaceName, scope)) {
    try {
      await tools.ip(['link', 'del', 'dev', interfaceName], scope);
    } catch (err) {
      if (await linkExists(tools, interfaceName, scope)) throw err;
    }
  }
  await rm(sock, { force: true }).catch(() => undefined);
  return true;
}
