/** Removal of what a crashed earlier run of the OpenVPN backend left behind, at start. */
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type { Logger } from '@rustynet/plugin-api';
import type { IpTool } from './ip-tool.js';
import type { OpenVpnOptions } from './options.js';
import { DEVICE_SEPARATOR } from './rules.js';

/**
 * Ends openvpn processes a crashed earlier run of this plugin left behind: those whose command
 * line is `openvpn --config <our config dir>/...` (they would hold our ports and devices).
 */
export async function removeStaleProcesses(configDir: string, log: Logger): Promise<void> {
  const needle = `\0--config\0${configDir}/`;
  const stale: number[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(needle)) stale.push(Number(pid));
  }
  if (stale.length === 0) return;
  log.warn({ pids: stale }, 'ending openvpn processes left by an earlier run');
  const alive = processRunning;
  const term = (): void => {
    for (const pid of stale.filter(alive)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone already */
      }
    }
  };
  // openvpn answers a first SIGTERM with its exit notification and lingers about a second; a
  // second SIGTERM once the notification is out ends it at once (as OpenVpnInstance.stop does).
  term();
  for (let i = 0; i < 3 && stale.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  term();
  for (let i = 0; i < 100 && stale.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  for (const pid of stale.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * Whether process `pid` still runs: it exists and is not a zombie. A zombie (state `Z`, or `X`
 * while it is being reaped; proc(5), `/proc/<pid>/stat` field 3) has released its ports and
 * devices but still answers `kill(pid, 0)`: the orphans of a daemon killed with SIGKILL are
 * reparented to the init process, and an init that does not reap them (a container's, a VM
 * agent's) leaves them as zombies for good, so counting them alive made every start wait 5 s.
 */
export function processRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "pid (comm) S ...": comm may contain spaces and parentheses, so take the state after the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== '' && state !== 'Z' && state !== 'X' && state !== 'x';
}

/** Deletes tun devices named like ours (`<prefix><sep><n>`) left by a crashed earlier run. */
export async function removeStaleDevices(ip: IpTool, prefix: string, log: Logger, signal?: AbortSignal): Promise<void> {
  const r = await ip.ip(['-o', 'link', 'show']);
  const re = new RegExp(`^\\d+: (${prefix}${DEVICE_SEPARATOR}\\d{1,3})[:@]`);
  const stale = r.stdout
    .split('\n')
    .map((l) => re.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
  if (stale.length > 0) {
    log.warn({ devices: stale }, 'removing stale tun devices from an earlier run');
    await ip
      .batch(
        stale.map((d) => `tuntap del dev ${d} mode tun`),
        signal,
        true,
      )
      .catch(() => undefined);
  }
}

/** Deletes exit-route policy rules (by their preference) left by a crashed earlier run. */
export async function removeStaleExitRules(ip: IpTool, opts: OpenVpnOptions, log: Logger): Promise<void> {
  for (const pre of [[], ['-6']]) {
    const r = await ip.ip([...pre, 'rule', 'show']);
    const prefs = [opts.exitTable, opts.exitTable + 1].filter((p) => new RegExp(`^${p}:`, 'm').test(r.stdout));
    if (prefs.length > 0) {
      log.warn({ prefs }, 'removing stale exit-route rules from an earlier run');
      await ip
        .batch(
          prefs.map((p) => `rule del pref ${p}`),
          undefined,
          true,
          pre,
        )
        .catch(() => undefined);
    }
  }
}
