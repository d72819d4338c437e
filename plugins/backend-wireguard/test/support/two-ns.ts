/**
 * Test-only topology: two network namespaces joined by a veth pair, with underlay addresses in
 * 198.18.0.0/15. The veth is created inside the first namespace with its peer end moved straight
 * into the second, so the root namespace is never touched. Names carry a per-run prefix
 * `rn<4 hex>`; stale namespaces of earlier runs (same naming, no process left inside) are removed
 * first; everything is removed by {@link TwoNs.destroy}, also on SIGINT.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';

/** Result of a command run in the test. */
export interface Shell {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (no shell) and resolves with its exit code and output; never rejects. */
export function sh(file: string, args: string[], input?: string): Promise<Shell> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const NS_RE = /^rn[0-9a-f]{4}w[ab]$/;

export class TwoNs {
  readonly prefix: string;
  readonly nsA: string;
  readonly nsB: string;
  readonly vethA: string;
  readonly vethB: string;
  /** Third octet of every address of this run. */
  readonly subnet: number;
  readonly underlayA: string;
  readonly underlayB: string;
  private destroyed = false;
  private readonly onSigint = (): void => {
    this.destroySync();
    process.exit(130);
  };

  private constructor() {
    this.prefix = `rn${randomBytes(2).toString('hex')}`;
    this.nsA = `${this.prefix}wa`;
    this.nsB = `${this.prefix}wb`;
    this.vethA = `${this.prefix}va`;
    this.vethB = `${this.prefix}vb`;
    this.subnet = randomBytes(1)[0]!;
    this.underlayA = `198.18.${this.subnet}.1`;
    this.underlayB = `198.18.${this.subnet}.2`;
  }

  /** Names of this run's WireGuard interfaces (unique on the host: wireguard-go sockets are shared). */
  wgName(side: 'a' | 'b'): string {
    return `${this.prefix}g${side}`;
  }

  /** Removes namespaces of earlier runs of this test that have no process left inside. */
  static removeStale(): void {
    const list = execFileSync('ip', ['netns', 'list']).toString();
    for (const line of list.split('\n')) {
      const name = line.split(' ')[0] ?? '';
      if (!NS_RE.test(name)) continue;
      const pids = execFileSync('ip', ['netns', 'pids', name]).toString().trim();
      if (pids !== '') continue;
      execFileSync('ip', ['netns', 'del', name]);
      const stalePrefix = name.slice(0, 6);
      for (const side of ['a', 'b']) rmSync(`/var/run/wireguard/${stalePrefix}g${side}.sock`, { force: true });
    }
  }

  /** Creates both namespaces, the veth pair and the underlay addresses. */
  static async create(): Promise<TwoNs> {
    TwoNs.removeStale();
    const t = new TwoNs();
    process.once('SIGINT', t.onSigint);
    try {
      const run = async (args: string[]): Promise<void> => {
        const r = await sh('ip', args);
        if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
      };
      await run(['netns', 'add', t.nsA]);
      await run(['netns', 'add', t.nsB]);
      await run(['-n', t.nsA, 'link', 'add', t.vethA, 'type', 'veth', 'peer', 'name', t.vethB, 'netns', t.nsB]);
      await run(['-n', t.nsA, 'addr', 'add', `${t.underlayA}/24`, 'dev', t.vethA]);
      await run(['-n', t.nsB, 'addr', 'add', `${t.underlayB}/24`, 'dev', t.vethB]);
      for (const [ns, dev] of [
        [t.nsA, t.vethA],
        [t.nsB, t.vethB],
      ] as const) {
        await run(['-n', ns, 'link', 'set', 'lo', 'up']);
        await run(['-n', ns, 'link', 'set', dev, 'up']);
      }
    } catch (err) {
      t.destroySync();
      throw err;
    }
    return t;
  }

  /** Runs `cmd` inside namespace `ns`. */
  exec(ns: string, file: string, args: string[]): Promise<Shell> {
    return sh('ip', ['netns', 'exec', ns, file, ...args]);
  }

  /**
   * True when `count` echo replies from `ip` reach `ns` within `deadlineS` seconds (ping keeps
   * sending every 0.2 s until then: WireGuard retries a lost handshake only after 5 s).
   */
  async ping(ns: string, ip: string, count = 2, deadlineS = 12): Promise<boolean> {
    const r = await this.exec(ns, 'ping', [ip.includes(':') ? '-6' : '-4', '-c', String(count), '-w', String(deadlineS), '-i', '0.2', ip]);
    return r.code === 0;
  }

  /** Removes the namespaces (and with them the veth and any device left), kills what runs inside, removes sockets. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('SIGINT', this.onSigint);
    for (const ns of [this.nsA, this.nsB]) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { stdio: ['ignore', 'pipe', 'ignore'] })
          .toString()
          .split(/\s+/)
          .filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      } catch {
        /* namespace missing */
      }
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* namespace missing */
      }
    }
    let names: string[] = [];
    try {
      names = readdirSync('/var/run/wireguard').filter((n) => n.startsWith(this.prefix));
    } catch {
      /* no socket directory */
    }
    for (const n of names) rmSync(`/var/run/wireguard/${n}`, { force: true });
  }
}
