/**
 * Traffic through a mesh, from inside its namespaces: ping matrices, continuous pings with
 * reply times, name resolution through Magic DNS, `dig`, and the policy plugin's counters.
 */
import type { TestHost } from '@rustynet/conformance-kit/harness';
import { DNS_PORT } from './constants.js';
import type { MeshNode } from './node-config.js';
import { sleep } from './processes.js';

/** A running `ping -D -i ...`, see {@link startContinuousPing}. */
export interface ContinuousPing {
  /** Reply times (ms since the epoch), in order; grows while the ping runs. */
  readonly replies: number[];
  /** Waits up to `timeoutMs` for a reply later than `t`; @returns its time, or null. */
  firstReplyAfter(t: number, timeoutMs: number): Promise<number | null>;
  /** Stops ping (SIGINT) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Result of one ping in {@link pingMatrix}. */
export interface PingResult {
  from: string;
  to: string;
  family: 4 | 6;
  address: string;
  ok: boolean;
}

/**
 * Pings every node from every other over the mesh, IPv4 and IPv6 (in parallel).
 * @param attempts ping attempts per pair (1 s each).
 * @param pairs only these `[from, to]` pairs, default all.
 */
export function pingMatrix(nodes: readonly MeshNode[], attempts: number, pairs?: Array<[string, string]>): Promise<PingResult[]> {
  const todo: Array<Omit<PingResult, 'ok'> & { host: TestHost }> = [];
  for (const a of nodes) {
    for (const b of nodes) {
      if (a === b) continue;
      if (pairs && !pairs.some(([x, y]) => x === a.id && y === b.id)) continue;
      todo.push(
        { from: a.id, to: b.id, family: 4, address: b.v4, host: a.host },
        { from: a.id, to: b.id, family: 6, address: b.v6, host: a.host },
      );
    }
  }
  return Promise.all(todo.map(async ({ host, ...t }) => ({ ...t, ok: await host.ping(t.address, { attempts, timeoutS: 1 }) })));
}

/** Renders a ping matrix as text: rows are sources, columns destinations, cells `v4 / v6`. */
export function renderPingMatrix(results: PingResult[], nodeIds: string[]): string {
  const cell = (from: string, to: string): string => {
    if (from === to) return '-';
    const r4 = results.find((r) => r.from === from && r.to === to && r.family === 4);
    const r6 = results.find((r) => r.from === from && r.to === to && r.family === 6);
    const f = (r: PingResult | undefined): string => (r === undefined ? 'n/a' : r.ok ? 'ok' : 'FAIL');
    return `${f(r4)} / ${f(r6)}`;
  };
  const width = 14;
  const lines = [
    ['from \\ to', ...nodeIds]
      .map((c) => c.padEnd(width))
      .join('')
      .trimEnd(),
  ];
  for (const a of nodeIds)
    lines.push(
      [a, ...nodeIds.map((b) => cell(a, b))]
        .map((c) => c.padEnd(width))
        .join('')
        .trimEnd(),
    );
  return lines.join('\n') + '\n';
}

/**
 * Starts `ping -D -i <intervalS>` on `host` to `address` (one echo request per interval until
 * stopped) and records the time of every reply (ping's own `-D` timestamps, gettimeofday,
 * comparable with `Date.now()`).
 */
export function startContinuousPing(host: TestHost, address: string, intervalS: number): ContinuousPing {
  const child = host.spawn('ping', [...(address.includes(':') ? ['-6'] : []), '-D', '-n', '-i', String(intervalS), '-W', '1', address], {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'ignore',
    buffer: false,
  });
  const replies: number[] = [];
  let rest = '';
  child.stdout?.on('data', (d: Buffer) => {
    rest += d.toString();
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) {
      const m = /^\[(\d+\.\d+)\] \d+ bytes from /.exec(l);
      if (m) replies.push(Math.round(Number(m[1]) * 1000));
    }
  });
  const exited = Promise.resolve(child).then(() => undefined);
  return {
    replies,
    async firstReplyAfter(t: number, timeoutMs: number): Promise<number | null> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = replies.find((x) => x > t);
        if (r !== undefined) return r;
        if (Date.now() > deadline) return null;
        await sleep(20);
      }
    },
    async stop(): Promise<void> {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

/**
 * `ping -c1 -W1 <name>` on `host`, resolving the name through the namespace's resolv.conf
 * (Magic DNS), up to `attempts` times.
 * @returns whether a reply came and the address ping resolved the name to.
 */
export async function pingName(
  host: TestHost,
  name: string,
  attempts: number,
): Promise<{ ok: boolean; address: string | null; output: string }> {
  let last = { ok: false, address: null as string | null, output: '' };
  for (let i = 0; i < attempts; i++) {
    const r = await host.exec('ping', ['-n', '-c', '1', '-W', '1', name], { reject: false, timeoutMs: 15_000 });
    const output = `${r.stdout}${r.stderr}`.trim();
    last = { ok: r.exitCode === 0, address: /^PING [^\s(]+ ?\(([^)]+)\)/m.exec(r.stdout)?.[1] ?? null, output };
    if (last.ok) return last;
  }
  return last;
}

/**
 * `dig @<server> <name> <type>` on `host` (1 s timeout, 2 tries).
 * @returns the RCODE (`NOERROR`, `NXDOMAIN`, ...; `TIMEOUT` when no answer came) and the
 *   answer section's record data (e.g. addresses).
 */
export async function digFrom(host: TestHost, server: string, name: string, type: string): Promise<{ status: string; answers: string[] }> {
  const r = await host.exec(
    'dig',
    [`@${server}`, '-p', String(DNS_PORT), name, type, '+time=1', '+tries=2', '+noall', '+comments', '+answer'],
    {
      reject: false,
      timeoutMs: 15_000,
    },
  );
  const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? 'TIMEOUT';
  const answers = r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith(';'))
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && f[3] === type)
    .map((f) => f.slice(4).join(' '));
  return { status, answers };
}

/**
 * The named counters of nftables table `inet <table>` on `host` (`nft -j list counters`): the
 * policy plugin gives the counter of each ACL rule the rule id as its comment.
 */
export async function nftCounters(
  host: TestHost,
  table: string,
): Promise<Array<{ name: string; rule: string; packets: number; bytes: number }>> {
  const r = await host.exec('nft', ['-j', 'list', 'counters', 'table', 'inet', table]);
  const doc = JSON.parse(r.stdout) as {
    nftables: Array<Record<string, { name?: string; comment?: string; packets?: number; bytes?: number } | undefined>>;
  };
  return doc.nftables
    .map((e) => e['counter'])
    .filter((c): c is NonNullable<typeof c> => c !== undefined)
    .map((c) => ({ name: c.name ?? '', rule: c.comment ?? c.name ?? '', packets: c.packets ?? 0, bytes: c.bytes ?? 0 }));
}
