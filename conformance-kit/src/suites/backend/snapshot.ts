import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { SuiteNode } from './fixture.js';

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

/** Everything of a namespace a backend could leave behind. */
export async function snapshotNode(n: SuiteNode): Promise<Record<string, string[]>> {
  const x = (args: string[]): Promise<string[]> =>
    n.host.exec(args[0], args.slice(1), { reject: false }).then((r) =>
      r.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
    );
  const [links, addrs, routes4, routes6, rules, sockU, sockT, nft] = await Promise.all([
    x(['ip', '-o', 'link', 'show']).then((l) =>
      l.map((s) =>
        s
          .replace(/^\d+: /, '')
          .split(' ')[0]
          .replace(/:$/, '')
          .replace(/@.*$/, ''),
      ),
    ),
    // Link-local IPv6 addresses appear on the underlay by themselves once duplicate address
    // detection finishes, at any time; a device left behind is caught through `links` instead.
    x(['ip', '-o', 'addr', 'show'])
      .then((l) => l.filter((s) => !/\sinet6 fe80:/.test(s)))
      .then((l) => l.map((s) => s.replace(/^\d+: /, '').replace(/\s+valid_lft.*$/, ''))),
    x(['ip', '-4', 'route', 'show', 'table', 'all']),
    x(['ip', '-6', 'route', 'show', 'table', 'all']).then((l) =>
      l.filter((s) => !s.includes('fe80::') && !/^(multicast|local) ff/.test(s)),
    ),
    x(['ip', 'rule', 'show']),
    x(['ss', '-H', '-uan']).then((l) => l.map((s) => s.split(/\s+/).slice(3, 4).join(' '))),
    x(['ss', '-H', '-tln']).then((l) => l.map((s) => s.split(/\s+/).slice(3, 4).join(' '))),
    x(['nft', 'list', 'tables']),
  ]);
  const pidList = (await execa('ip', ['netns', 'pids', n.host.netns], { reject: false })).stdout.split(/\s+/).filter(Boolean);
  const pids = (
    await Promise.all(
      pidList.map(
        async (p) => `${p} ${(await readFile(`/proc/${p}/cmdline`).catch(() => Buffer.alloc(0))).toString().replace(/\0/g, ' ').trim()}`,
      ),
    )
  ).filter((l) => l.split(' ').length > 1 && !/^\d+ (ip|ss|nft) /.test(l));
  const files = (await walk(n.plugin.loaded.pluginStateDir)).filter((f) => !f.startsWith(n.keyDir));
  // files named after the interface in /run (one level of subdirectories, e.g. control sockets), /tmp, /var/tmp
  const runDirs = await readdir('/run', { withFileTypes: true }).then(
    (e) => e.filter((x) => x.isDirectory()).map((x) => join('/run', x.name)),
    () => [],
  );
  const runFiles = (
    await Promise.all(
      ['/run', ...runDirs, '/tmp', '/var/tmp'].map((d) =>
        readdir(d).then(
          (e) => e.map((x) => join(d, x)),
          () => [],
        ),
      ),
    )
  )
    .flat()
    .filter((f) => f.includes(n.ifname));
  return {
    links,
    addrs,
    routes4,
    routes6,
    rules,
    udpSockets: sockU,
    tcpListeners: sockT,
    processes: pids,
    nftTables: nft,
    stateFiles: files,
    runFiles,
  };
}
