/**
 * Test-only network: N host namespaces joined by a bridge in a switch namespace. Veth pairs are
 * created inside the switch namespace and moved straight into the host namespace, so the root
 * namespace is never touched. Host i gets 198.18.0.<i+1>/24 on eth0. Names carry a per-run prefix
 * `ov<4 hex>`; stale ones of dead runs are removed at create; everything is removed by destroy(),
 * at process exit and on SIGINT/SIGTERM.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const OWNER_DIR = '/run/rustynet-ovpn-test';
const NAME_RE = /^ov([0-9a-f]{4})(h\d+|sw)$/;

function sh(args: string[], input?: string): string {
  return execFileSync('ip', args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function deleteNetnsSync(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  for (const p of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  spawnSync('ip', ['netns', 'del', ns]);
}

function listNetns(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

/** Removes namespaces of earlier runs whose owner process is gone. */
export function removeStale(): void {
  for (const ns of listNetns()) {
    const m = NAME_RE.exec(ns);
    if (!m) continue;
    const owner = `${OWNER_DIR}/${m[1]}.pid`;
    const pid = existsSync(owner) ? Number(readFileSync(owner, 'utf8')) : NaN;
    if (Number.isInteger(pid) && pidAlive(pid)) continue;
    deleteNetnsSync(ns);
  }
  if (existsSync(OWNER_DIR)) {
    for (const f of readdirSync(OWNER_DIR)) {
      const pid = Number(readFileSync(`${OWNER_DIR}/${f}`, 'utf8'));
      if (!pidAlive(pid)) rmSync(`${OWNER_DIR}/${f}`, { force: true });
    }
  }
}

const live = new Set<TestNet>();
let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const cleanAll = (): void => {
    for (const n of live) n.destroySync();
  };
  process.on('exit', cleanAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      cleanAll();
      process.exit(130);
    });
  }
}

export interface TestHostInfo {
  name: string;
  netns: string;
  underlay: string;
}

export class TestNet {
  readonly hosts: TestHostInfo[] = [];
  readonly switchNs: string;
  private destroyed = false;

  private constructor(
    readonly tag: string,
    count: number,
  ) {
    this.switchNs = `ov${tag}sw`;
    for (let i = 0; i < count; i++) this.hosts.push({ name: `h${i + 1}`, netns: `ov${tag}h${i + 1}`, underlay: `198.18.0.${i + 1}` });
  }

  static create(count: number): TestNet {
    removeStale();
    installHandlers();
    const tag = randomBytes(2).toString('hex');
    mkdirSync(OWNER_DIR, { recursive: true, mode: 0o700 });
    writeFileSync(`${OWNER_DIR}/${tag}.pid`, String(process.pid));
    const net = new TestNet(tag, count);
    live.add(net);
    try {
      sh(['netns', 'add', net.switchNs]);
      sh(['-n', net.switchNs, '-batch', '-'], 'link add br0 type bridge\nlink set br0 up\nlink set lo up\n');
      net.hosts.forEach((h, i) => {
        sh(['netns', 'add', h.netns]);
        sh(['-n', net.switchNs, 'link', 'add', `v${i + 1}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns]);
        sh(['-n', net.switchNs, '-batch', '-'], `link set v${i + 1} master br0\nlink set v${i + 1} up\n`);
        sh(['-n', h.netns, '-batch', '-'], `link set lo up\naddr add ${h.underlay}/24 dev eth0\nlink set eth0 up\n`);
      });
    } catch (err) {
      net.destroySync();
      throw err;
    }
    return net;
  }

  host(name: string): TestHostInfo {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  /** Runs a command in a host namespace; returns exit code and output. */
  exec(ns: string, file: string, args: string[], input?: string): { code: number; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', ns, file, ...args], {
      encoding: 'utf8',
      ...(input !== undefined ? { input } : {}),
      timeout: 120_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** One ping attempt series: true when any of `count` echo requests was answered. */
  ping(ns: string, ip: string, count = 2, waitS = 1): boolean {
    return (
      this.exec(ns, 'ping', [ip.includes(':') ? '-6' : '-4', '-c', String(count), '-W', String(waitS), '-i', '0.2', '-q', ip]).code === 0
    );
  }

  /** Retries ping until it succeeds or `timeoutMs` passes. */
  async pingUntil(ns: string, ip: string, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.ping(ns, ip, 1, 1)) return true;
      await new Promise((r) => setTimeout(r, 300));
    }
    return false;
  }

  /** Names of the namespaces of this run that still exist. */
  remaining(): string[] {
    return listNetns().filter((n) => n.startsWith(`ov${this.tag}`));
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const h of this.hosts) deleteNetnsSync(h.netns);
    deleteNetnsSync(this.switchNs);
    rmSync(`${OWNER_DIR}/${this.tag}.pid`, { force: true });
    live.delete(this);
  }

  async destroy(): Promise<void> {
    this.destroySync();
  }
}
