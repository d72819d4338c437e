/**
 * The WireGuard network device: the kernel module (`ip link add <if> type wireguard`) when it is
 * present, else wireguard-go, the userspace implementation (a TUN device plus a control socket
 * at `/var/run/wireguard/<if>.sock`, which `wg` finds by interface name).
 */
import { rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { RustynetError, type Logger, type ManagedProcess } from '@rustynet/plugin-api';
import type { CallScope } from '@rustynet/plugin-kit';
import type { WireguardOptions } from './options.js';
import type { Tools } from './tools.js';

/** Directory of wireguard-go's control sockets (fixed in wireguard-go and wg). Shared by all network namespaces. */
export const SOCKET_DIR = '/var/run/wireguard';

/** wireguard-go refuses to run on Linux without this variable. It carries no secret. */
export const USERSPACE_ENV = { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1' } as const;

/** Control socket path of a userspace interface. */
export function socketPath(interfaceName: string): string {
  return `${SOCKET_DIR}/${interfaceName}.sock`;
}

/** A device this backend created. */
export interface Device {
  interfaceName: string;
  kind: 'kernel' | 'userspace';
  /** The wireguard-go process (userspace only). */
  process?: ManagedProcess;
  /** Settled once the process has exited (userspace only). */
  exited?: { done: boolean; exitCode: number | null; signal: string | null };
  /** True once the control socket appeared after our wireguard-go started: only then is it ours to remove. */
  ownsSocket?: boolean;
  /** Set when removal began: an exit after that is expected, not a fault. */
  stopping?: boolean;
}

/**
 * State of a wireguard-go control socket: `absent`; `live` (something accepts connections: an
 * interface of that name runs, maybe in another network namespace); `stale` (file left behind).
 */
export function socketState(path: string): Promise<'absent' | 'live' | 'stale'> {
  return new Promise((resolve) => {
    const conn = createConnection({ path });
    conn.once('connect', () => {
      conn.destroy();
      resolve('live');
    });
    conn.once('error', (err: NodeJS.ErrnoException) => {
      conn.destroy();
      // Only "nobody listens" makes a socket stale; anything else (EACCES, ...) is not ours to take.
      resolve(err.code === 'ENOENT' ? 'absent' : err.code === 'ECONNREFUSED' ? 'stale' : 'live');
    });
  });
}

/** True when a link named `interfaceName` exists in the runner's network namespace. */
export async function linkExists(tools: Tools, interfaceName: string, scope: CallScope): Promise<boolean> {
  const r = await tools.ip(['link', 'show', 'dev', interfaceName], scope, { reject: false });
  return r.exitCode === 0;
}

async function fileExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Creates the device per `options.userspace`: `never` uses only the kernel module, `always`
 * only wireguard-go, `auto` tries the kernel module first.
 * @throws RustynetError `BACKEND_FAILED` (kernel module missing with `never`; wireguard-go
 *   failing to start, with its output in `details.output`), `TIMEOUT`, `ABORTED`. Nothing is left
 *   behind on failure.
 */
export async function createDevice(
  tools: Tools,
  options: WireguardOptions,
  interfaceName: string,
  scope: CallScope,
  logger: Logger,
): Promise<Device> {
  // The socket directory is shared by every network namespace of the host, and `wg` prefers a
  // userspace socket over a kernel device of the same name: a live socket means an interface of
  // this name runs elsewhere, and `wg` would configure *that* one. (A live socket of our own
  // crashed instance was already replaced by `replaceStaleDevice`.)
  const sock = socketPath(interfaceName);
  const before = await socketState(sock);
  if (before === 'live') {
    throw new RustynetError(
      'BACKEND_FAILED',
      `interface name ${interfaceName} is in use by another wireguard-go on this host (${sock}); ` +
        'userspace interface names must be unique per host, across network namespaces',
      { field: 'interfaceName', details: { socket: sock } },
    );
  }
  if (before === 'stale') {
    logger.warn({ socket: sock }, 'removing a stale wireguard-go control socket');
    await rm(sock, { force: true });
  }
  if (options.userspace !== 'always') {
    const r = await tools.ip(['link', 'add', 'dev', interfaceName, 'type', 'wireguard'], scope, { reject: false });
    if (r.exitCode === 0) {
      logger.info({ interfaceName }, 'created kernel WireGuard device');
      return { interfaceName, kind: 'kernel' };
    }
    if (options.userspace === 'never') {
      throw new RustynetError('BACKEND_FAILED', `cannot create kernel WireGuard device ${interfaceName}: ${r.stderr.trim()}`, {
        field: 'options.userspace',
        details: { command: 'ip link add', exitCode: r.exitCode, stderr: r.stderr },
      });
    }
    logger.debug({ interfaceName, stderr: r.stderr.trim() }, 'no kernel WireGuard; using wireguard-go');
  }
  return startUserspace(tools, options, interfaceName, scope, logger);
}

async function startUserspace(
  tools: Tools,
  options: WireguardOptions,
  interfaceName: string,
  scope: CallScope,
  logger: Logger,
): Promise<Device> {
  const sock = socketPath(interfaceName);
  const proc = tools.runner.spawn(options.wireguardGoPath, ['-f', interfaceName], { env: { ...USERSPACE_ENV } });
  const exited = { done: false, exitCode: null as number | null, signal: null as string | null };
  void proc.exited.then((e) => {
    exited.done = true;
    exited.exitCode = e.exitCode;
    exited.signal = e.signal;
  });
  const device: Device = { interfaceName, kind: 'userspace', process: proc, exited };
  const giveUpAt = Date.now() + options.userspaceStartTimeoutMs;
  try {
    for (;;) {
      if (exited.done) {
        throw new RustynetError(
          'BACKEND_FAILED',
          `wireguard-go exited (code ${exited.exitCode}, signal ${exited.signal}) before its control socket appeared`,
          {
            details: { command: options.wireguardGoPath, exitCode: exited.exitCode, output: proc.outputTail().slice(-4096) },
          },
        );
      }
      if (await fileExists(sock)) {
        device.ownsSocket = true;
        break;
      }
      if (Date.now() > giveUpAt) {
        throw new RustynetError('BACKEND_FAILED', `wireguard-go did not create ${sock} within ${options.userspaceStartTimeoutMs} ms`, {
          details: { command: options.wireguardGoPath, output: proc.outputTail().slice(-4096) },
        });
      }
      await scope.sleep(25);
    }
  } catch (err) {
    device.stopping = true;
    await stopProcess(device, logger);
    if (device.ownsSocket) await rm(sock, { force: true }).catch(() => undefined);
    throw err;
  }
  logger.info({ interfaceName, pid: proc.pid }, 'started wireguard-go');
  return device;
}

/**
 * True when the device is a userspace one whose wireguard-go has exited, or exits within `waitMs`
 * ms (after a failed `wg set`, its exit may not have been reaped yet). Always false for a kernel device.
 */
export async function exitedDuringSetup(device: Device, waitMs: number): Promise<boolean> {
  const proc = device.process;
  if (device.kind !== 'userspace' || !proc || !device.exited) return false;
  if (device.exited.done) return true;
  let timer: NodeJS.Timeout | undefined;
  const exited = await Promise.race([
    proc.exited.then(() => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), waitMs);
    }),
  ]);
  clearTimeout(timer);
  return exited;
}

/** Sends SIGTERM, waits up to 3 s, then SIGKILL and waits up to 2 s more. */
async function stopProcess(device: Device, logger: Logger): Promise<void> {
  const proc = device.process;
  if (!proc || !device.exited || device.exited.done) return;
  const waitExit = (ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      void proc.exited.then(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  proc.kill('SIGTERM');
  if (await waitExit(3000)) return;
  logger.warn({ pid: proc.pid }, 'wireguard-go ignored SIGTERM; sending SIGKILL');
  proc.kill('SIGKILL');
  if (!(await waitExit(2000))) logger.error({ pid: proc.pid }, 'wireguard-go did not exit after SIGKILL');
}

/**
 * Removes the device: deletes the link (which also removes its addresses and routes), stops
 * wireguard-go if it still runs, and removes a control socket left behind.
 * @returns problems met (empty when all went well); never throws for cleanup failures except
 *   `TIMEOUT`/`ABORTED` from `scope`.
 */
export async function destroyDevice(tools: Tools, device: Device, scope: CallScope, logger: Logger): Promise<string[]> {
  device.stopping = true;
  const problems: string[] = [];
  const r = await tools.ip(['link', 'del', 'dev', device.interfaceName], scope, { reject: false });
  if (r.exitCode !== 0 && (await linkExists(tools, device.interfaceName, scope))) {
    problems.push(`ip link del ${device.interfaceName}: ${r.stderr.trim()}`);
  }
  if (device.kind === 'userspace') {
    await stopProcess(device, logger);
    if (device.exited && !device.exited.done) problems.push(`wireguard-go (pid ${device.process?.pid}) still runs`);
    const sock = socketPath(device.interfaceName);
    // wireguard-go removes its socket on a clean exit; remove it if it was killed (only ours).
    if (device.ownsSocket && !(device.exited && !device.exited.done)) {
      await rm(sock, { force: true }).catch((err: unknown) => problems.push(`rm ${sock}: ${String(err)}`));
    }
  }
  return problems;
}
