/**
 * Snapshot of everything a plugin could leave behind in one namespace (links, addresses, IPv4 and
 * IPv6 routes and rules, nftables tables, processes, sockets, files), and the difference of two
 * snapshots. Known noise is left out: link-local IPv6 addresses and routes (they appear by
 * themselves after duplicate address detection), multicast and local ff00::/8 routes, and the
 * kit's own helper processes and their sockets.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

/** A namespace snapshot: per category, one normalised line per resource. */
export type Snapshot = Record<string, string[]>;

/** What {@link snapshotNamespace} looks at. */
export interface SnapshotScope {
  /** Name of the network namespace. */
  netns: string;
  /** Runs a program inside the namespace and returns its stdout (non-zero exits resolve). */
  exec: (file: string, args: readonly string[]) => Promise<string>;
  /** pids of the live plugin hosts there: their descendants count, they themselves do not. */
  pluginHostPids: readonly number[];
  /** Directories the plugin owns (its state directory): every file below them counts. */
  stateDirs: readonly string[];
  /** Directories below them that are not the plugin's to clean (key directories). */
  ignoreDirs?: readonly string[];
  /** Names of the plugin's resources (interface names): files in /run, /run/*, /tmp, /var/tmp containing one count. */
  names: readonly string[];
}

/** Every regular file under `dir`, recursively (none when `dir` is unreadable). */
export async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const ents = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of ents) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // pid (comm) state ppid ...; comm may contain spaces and parentheses
  const m = /\)\s+\S+\s+(\d+)/.exec(stat.slice(stat.lastIndexOf(')')));
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

/** The ancestors of `pid` (parent first), up to init. */
async function ancestors(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (let p = await parentOf(pid); p !== undefined && p > 1 && out.length < 64; p = await parentOf(p)) out.push(p);
  return out;
}

/**
 * Whether a process is the plugin's: a descendant of a live plugin host, or any process of the
 * namespace that the kit did not start (a daemonised child is re-parented away from its host).
 */
async function isPluginProcess(pid: number, hosts: ReadonlySet<number>): Promise<boolean> {
  if (hosts.has(pid) || pid === process.pid) return false;
  if ((await parentOf(pid)) === undefined) return false; // gone already
  const up = await ancestors(pid);
  if (up.some((p) => hosts.has(p))) return true;
  return !up.includes(process.pid);
}

const lines = (s: string): string[] =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

/** Takes a {@link Snapshot} of one namespace. */
export async function snapshotNamespace(scope: SnapshotScope): Promise<Snapshot> {
  const x = async (file: string, ...args: string[]): Promise<string[]> => lines(await scope.exec(file, args));
  const hosts = new Set(scope.pluginHostPids);
  const [links, addrs, routes4, routes6, rules4, rules6, sockU, sockT, nft, pidOut] = await Promise.all([
    x('ip', '-o', 'link', 'show').then((l) =>
      l.map((s) => (s.replace(/^\d+: /, '').split(' ')[0] ?? '').replace(/:$/, '').replace(/@.*$/, '')),
    ),
    x('ip', '-o', 'addr', 'show').then((l) =>
      l.filter((s) => !/\sinet6 fe80:/.test(s)).map((s) => s.replace(/^\d+: /, '').replace(/\s+valid_lft.*$/, '')),
    ),
    x('ip', '-4', 'route', 'show', 'table', 'all'),
    x('ip', '-6', 'route', 'show', 'table', 'all').then((l) => l.filter((s) => !s.includes('fe80::') && !/^(multicast|local) ff/.test(s))),
    x('ip', '-4', 'rule', 'show'),
    x('ip', '-6', 'rule', 'show'),
    x('ss', '-H', '-uanp'),
    x('ss', '-H', '-tlnp'),
    x('nft', 'list', 'tables'),
    execa('ip', ['netns', 'pids', scope.netns], { reject: false }).then((r) => r.stdout),
  ]);
  const pids = pidOut.split(/\s+/).filter(Boolean).map(Number);
  const mine = new Map<number, boolean>();
  await Promise.all(pids.map(async (p) => void mine.set(p, await isPluginProcess(p, hosts))));
  const processes = (
    await Promise.all(
      pids
        .filter((p) => mine.get(p) === true)
        .map(
          async (p) => `${p} ${(await readFile(`/proc/${p}/cmdline`).catch(() => Buffer.alloc(0))).toString().replace(/\0/g, ' ').trim()}`,
        ),
    )
  ).filter((l) => /^\d+ \S/.test(l) && !/^\d+ (ip|ss|nft) /.test(l)); // empty cmdline: exited or a zombie
  // a socket counts unless every owner is a kit helper (an echo server, a probe, tcpdump)
  const sockets = (l: string[]): string[] =>
    l
      .filter((s) => {
        const owners = [...s.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
        return owners.length === 0 || owners.some((p) => hosts.has(p) || mine.get(p) === true || !mine.has(p));
      })
      .map((s) => s.split(/\s+/).slice(3, 4).join(' '));
  const ignore = scope.ignoreDirs ?? [];
  const stateFiles = (await Promise.all(scope.stateDirs.map((d) => walk(d)))).flat().filter((f) => !ignore.some((d) => f.startsWith(d)));
  // files named after the plugin's resources in /run (one level of subdirectories, e.g. control sockets), /tmp, /var/tmp
  const runDirs = await readdir('/run', { withFileTypes: true }).then(
    (e) => e.filter((d) => d.isDirectory()).map((d) => join('/run', d.name)),
    () => [],
  );
  const runFiles =
    scope.names.length === 0
      ? []
      : (
          await Promise.all(
            ['/run', ...runDirs, '/tmp', '/var/tmp'].map((d) =>
              readdir(d).then(
                (e) => e.map((f) => join(d, f)),
                () => [],
              ),
            ),
          )
        )
          .flat()
          .filter((f) => scope.names.some((n) => f.includes(n)));
  return {
    links,
    addrs,
    routes4,
    routes6,
    rules4,
    rules6,
    udpSockets: sockets(sockU),
    tcpListeners: sockets(sockT),
    processes,
    nftTables: nft,
    stateFiles,
    runFiles,
  };
}

/** What `after` has that `before` had not, per category (categories without news omitted). */
export function snapshotNews(before: Snapshot, after: Snapshot): Snapshot {
  return Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v.filter((s) => !(before[k] ?? []).includes(s))] as const)
      .filter(([, v]) => v.length > 0),
  );
}
