/**
 * Two network namespaces joined by veth pairs, for the policy integration test.
 *
 * - `<prefix>a` ("protected", where the policy runs) and `<prefix>b` ("peer").
 * - mesh link: `<prefix>m` (in a) <-> `<prefix>n` (in b): 100.64.0.1/24 + fd00:<id>::1/64 on a;
 *   100.64.0.2, .3 and fd00:<id>::2, ::3 on b (two "nodes", b and c, share the peer namespace).
 * - underlay link: `<prefix>u` (in a) <-> `<prefix>v` (in b): 198.18.0.1/24 and 198.18.0.2/24 —
 *   not a mesh interface, so the policy must leave it alone.
 *
 * The veth pairs are created directly inside the namespaces (`ip -n a link add ... netns b`), so
 * the root namespace is never touched. Cleanup on destroy(), on process exit and on SIGINT.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustRun, runProc } from './proc.js';

export const NAME_RE = /^rnpl[0-9a-f]{4}[ab]$/;

function sh(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Owner pid files of live runs (`<prefix>.pid`). */
const RUN_DIR = '/run/rustynet-policy-test';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killAndDelete(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    sh(['netns', 'del', ns]);
  } catch {
    /* not there */
  }
}

/** Removes namespaces of earlier runs of this test whose owner process is gone. */
export function removeStaleNamespaces(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const removed: string[] = [];
  for (const line of out.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (!NAME_RE.test(name)) continue;
    let owner: number;
    try {
      owner = Number(readFileSync(join(RUN_DIR, `${name.slice(0, -1)}.pid`), 'utf8').trim());
    } catch {
      owner = 0;
    }
    if (owner > 0 && pidAlive(owner)) continue; // a live run owns it
    killAndDelete(name);
    rmSync(join(RUN_DIR, `${name.slice(0, -1)}.pid`), { force: true });
    removed.push(name);
  }
  return removed;
}

export class PolicyTestNet {
  readonly prefix: string;
  readonly a: string;
  readonly b: string;
  readonly meshIf: string;
  readonly peerMeshIf: string;
  readonly underIf: string;
  readonly v6: string;
  private destroyed = false;
  private readonly onSigint = (): void => {
    this.destroySync();
    process.exit(130);
  };
  private readonly onExit = (): void => this.destroySync();
  /** Cleanups to run first (processes started in the namespaces). */
  readonly beforeDestroy: Array<() => void> = [];

  private constructor() {
    const id = randomBytes(2).toString('hex');
    this.prefix = `rnpl${id}`;
    this.a = `${this.prefix}a`;
    this.b = `${this.prefix}b`;
    this.meshIf = `${this.prefix}m`;
    this.peerMeshIf = `${this.prefix}n`;
    this.underIf = `${this.prefix}u`;
    this.v6 = `fd00:${id}:`;
  }

  /** IPv6 address `fd00:<id>::<host>`. */
  ip6(host: number): string {
    return `${this.v6}:${host.toString(16)}`;
  }

  static async create(): Promise<PolicyTestNet> {
    removeStaleNamespaces();
    const net = new PolicyTestNet();
    mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
    writeFileSync(join(RUN_DIR, `${net.prefix}.pid`), `${process.pid}\n`);
    process.once('SIGINT', net.onSigint);
    process.once('exit', net.onExit);
    try {
      const { a, b, prefix } = net;
      const ip = (...args: string[]): Promise<unknown> => mustRun('ip', args);
      await ip('netns', 'add', a);
      await ip('netns', 'add', b);
      for (const ns of [a, b]) await ip('-n', ns, 'link', 'set', 'lo', 'up');
      await ip('-n', a, 'link', 'add', net.meshIf, 'type', 'veth', 'peer', 'name', net.peerMeshIf, 'netns', b);
      await ip('-n', a, 'link', 'add', net.underIf, 'type', 'veth', 'peer', 'name', `${prefix}v`, 'netns', b);
      await ip('-n', a, 'addr', 'add', '100.64.0.1/24', 'dev', net.meshIf);
      await ip('-n', a, 'addr', 'add', `${net.ip6(1)}/64`, 'dev', net.meshIf, 'nodad');
      await ip('-n', b, 'addr', 'add', '100.64.0.2/24', 'dev', net.peerMeshIf);
      await ip('-n', b, 'addr', 'add', '100.64.0.3/24', 'dev', net.peerMeshIf);
      await ip('-n', b, 'addr', 'add', `${net.ip6(2)}/64`, 'dev', net.peerMeshIf, 'nodad');
      await ip('-n', b, 'addr', 'add', `${net.ip6(3)}/64`, 'dev', net.peerMeshIf, 'nodad');
      await ip('-n', a, 'addr', 'add', '198.18.0.1/24', 'dev', net.underIf);
      await ip('-n', b, 'addr', 'add', '198.18.0.2/24', 'dev', `${prefix}v`);
      for (const [ns, dev] of [
        [a, net.meshIf],
        [a, net.underIf],
        [b, net.peerMeshIf],
        [b, `${prefix}v`],
      ] as const) {
        await ip('-n', ns, 'link', 'set', dev, 'up');
      }
      await net.settle();
      return net;
    } catch (err) {
      net.destroySync();
      throw err;
    }
  }

  /**
   * Waits until both veth ends have carrier and the neighbour entries of every address pair
   * are resolved (a few pings from the peer namespace), so the first probes of a test do not
   * race link bring-up. Readiness polling, not a timed assertion.
   */
  private async settle(): Promise<void> {
    const pairs: Array<[string, string]> = [
      ['100.64.0.2', '100.64.0.1'],
      ['100.64.0.3', '100.64.0.1'],
      [this.ip6(2), this.ip6(1)],
      [this.ip6(3), this.ip6(1)],
      ['198.18.0.2', '198.18.0.1'],
    ];
    for (const [src, dst] of pairs) {
      let ok = false;
      for (let i = 0; i < 20 && !ok; i++) {
        const r = await runProc('ip', ['netns', 'exec', this.b, 'ping', '-n', '-c', '1', '-W', '1', '-I', src, dst]);
        ok = r.exitCode === 0;
        if (!ok) await new Promise((res) => setTimeout(res, 100));
      }
      if (!ok) throw new Error(`test network not ready: ${src} cannot reach ${dst}`);
    }
  }

  /** Runs a command in namespace `ns`; resolves to stdout. */
  async exec(ns: string, file: string, args: string[], input?: string): Promise<string> {
    return mustRun('ip', ['netns', 'exec', ns, file, ...args], input);
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('SIGINT', this.onSigint);
    process.removeListener('exit', this.onExit);
    for (const fn of this.beforeDestroy.splice(0)) {
      try {
        fn();
      } catch {
        /* best effort */
      }
    }
    for (const ns of [this.a, this.b]) killAndDelete(ns);
    rmSync(join(RUN_DIR, `${this.prefix}.pid`), { force: true });
  }

  async destroy(): Promise<void> {
    this.destroySync();
  }
}
