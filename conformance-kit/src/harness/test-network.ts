import { randomBytes } from 'node:crypto';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise, type Options as ExecaOptions } from 'execa';
import { ResourceTracker, runSyncQuiet } from './tracker.js';

/** Prefix of every namespace the harness creates; `rnt-<hex>` is one run. */
export const HARNESS_PREFIX = 'rnt';
/** Directory holding one `<prefix>.pid` owner file per live run (tmpfs, gone at reboot). */
export const RUN_DIR = '/run/rustynet-testnet';
/** Underlay network of every test network (RFC 2544 benchmarking range). */
export const UNDERLAY_PREFIX = '198.18.0';

const AGENT_PATH = fileURLToPath(new URL('./agent.js', import.meta.url));

/** Result of {@link TestHost.exec}. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Options of {@link TestHost.exec}. */
export interface ExecOptions {
  /** Data written to stdin. */
  input?: string;
  /** When false (default true), a non-zero exit resolves instead of throwing. */
  reject?: boolean;
  /** Deadline in ms (default 30 000). */
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Options of {@link TestHost.ping}. */
export interface PingOptions {
  /** Echo requests per attempt (`ping -c`), default 1. */
  count?: number;
  /** Per-reply wait in seconds (`ping -W`), default 1. */
  timeoutS?: number;
  /** Attempts before giving up, default 3. */
  attempts?: number;
}

/** A running packet capture, see {@link TestHost.capture}. */
export interface Capture {
  /** The pcap file being written. */
  readonly file: string;
  /** Stops tcpdump and returns the raw pcap bytes (search them for marker strings). */
  stop(): Promise<Buffer>;
}

/** A running UDP/TCP echo server, see {@link TestHost.udpEchoServer}. */
export interface EchoServer {
  readonly port: number;
  close(): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Ends every process inside a namespace (SIGTERM, then SIGKILL after up to 1 s, so daemons
 * such as userspace tunnels can remove their sockets), then deletes the namespace. Synchronous.
 */
function killAndDeleteNetnsSync(netns: string): void {
  const pids = (): number[] => runSyncQuiet('ip', ['netns', 'pids', netns]).stdout.split(/\s+/).filter(Boolean).map(Number);
  const signal = (list: number[], sig: NodeJS.Signals): void => {
    for (const p of list) {
      try {
        process.kill(p, sig);
      } catch {
        /* gone */
      }
    }
  };
  let list = pids();
  if (list.length) {
    signal(list, 'SIGTERM');
    for (let i = 0; i < 20 && list.length; i++) {
      sleepSync(50);
      list = pids();
    }
    signal(list, 'SIGKILL');
  }
  runSyncQuiet('ip', ['netns', 'del', netns]);
}

/**
 * Removes namespaces left by earlier runs of the harness whose owner process is gone
 * (names `rnt-<hex>-*` without a live `RUN_DIR/<prefix>.pid`). Runs of other live processes
 * are left alone. @returns the namespaces removed.
 */
export function cleanStaleNetworks(): string[] {
  const removed: string[] = [];
  const { stdout } = runSyncQuiet('ip', ['netns', 'list']);
  const names = stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${HARNESS_PREFIX}-`));
  for (const ns of names) {
    const m = /^(rnt-[0-9a-f]+)-/.exec(ns);
    const runPrefix = m?.[1];
    let owner = 0;
    if (runPrefix) {
      try {
        owner = Number(readFileSync(join(RUN_DIR, `${runPrefix}.pid`), 'utf8').trim());
      } catch {
        owner = 0;
      }
    }
    if (owner > 0 && pidAlive(owner)) continue;
    killAndDeleteNetnsSync(ns);
    removed.push(ns);
  }
  if (existsSync(RUN_DIR)) {
    for (const f of readdirSync(RUN_DIR)) {
      const pid = Number(readFileSync(join(RUN_DIR, f), 'utf8').trim());
      if (!(pid > 0 && pidAlive(pid))) rmSync(join(RUN_DIR, f), { force: true });
    }
  }
  return removed;
}

interface AgentHandle {
  child: ChildProcess;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
  nextId: number;
}

/**
 * One host of a {@link TestNetwork}: a network namespace with `lo` up and `eth0` on the
 * shared underlay bridge. Every helper runs inside the host's namespace.
 */
export class TestHost {
  private agent: Promise<AgentHandle> | undefined;
  private readonly faults = new Map<string, string>();
  private nextTag = 0;

  /** @internal */
  constructor(
    /** Host name as given to {@link TestNetwork.create}. */
    readonly name: string,
    /** Index of the host (0-based); its underlay address is `198.18.0.<index+1>`. */
    readonly index: number,
    /** Name of the host's network namespace. */
    readonly netns: string,
    /** The host's underlay IPv4 address on `eth0` (no prefix length). */
    readonly underlayAddress: string,
    private readonly network: TestNetwork,
  ) {}

  /**
   * Runs a program inside the host's namespace (`ip netns exec <netns> file args...`).
   * @throws Error (execa's) when it exits non-zero and `reject` is not false.
   */
  async exec(file: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await execa('ip', ['netns', 'exec', this.netns, file, ...args], {
      reject: opts.reject ?? true,
      timeout: opts.timeoutMs ?? 30_000,
      ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
      ...(opts.env ? { env: opts.env } : {}),
    });
    return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? -1 };
  }

  /**
   * Starts a long-lived program inside the namespace; it is killed on {@link TestNetwork.destroy}
   * (and with the namespace on any exit).
   */
  spawn(file: string, args: readonly string[] = [], opts: ExecaOptions = {}): ResultPromise {
    const child = execa('ip', ['netns', 'exec', this.netns, file, ...args], { reject: false, ...opts }) as ResultPromise;
    const untrack = this.network.tracker.track('process', `${file} in ${this.netns}`, () => {
      if (child.exitCode === null && child.pid) child.kill('SIGKILL');
    });
    void Promise.resolve(child).finally(untrack);
    return child;
  }

  /**
   * Pings `ip` from this host (`ping -c count -W timeoutS`), retrying up to `attempts` times.
   * @returns true as soon as one attempt gets a reply.
   */
  async ping(ip: string, opts: PingOptions = {}): Promise<boolean> {
    const attempts = opts.attempts ?? 3;
    const v6 = ip.includes(':');
    for (let i = 0; i < attempts; i++) {
      const r = await this.exec('ping', [...(v6 ? ['-6'] : []), '-n', '-q', '-c', String(opts.count ?? 1), '-W', String(opts.timeoutS ?? 1), ip], {
        reject: false,
      });
      if (r.exitCode === 0) return true;
    }
    return false;
  }

  private async getAgent(): Promise<AgentHandle> {
    this.agent ??= (async () => {
      const child = fork(AGENT_PATH, [], {
        execPath: 'ip',
        execArgv: ['netns', 'exec', this.netns, process.execPath],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      const untrack = this.network.tracker.track('process', `agent in ${this.netns}`, () => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      child.once('exit', untrack);
      const h: AgentHandle = { child, pending: new Map(), nextId: 1 };
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`harness agent in ${this.netns} exited with ${code}`)));
        child.on('message', (m: { ready?: boolean; id?: number; result?: unknown; error?: string }) => {
          if (m.ready) return resolve();
          const p = h.pending.get(m.id!);
          if (!p) return;
          h.pending.delete(m.id!);
          if (m.error !== undefined) p.reject(new Error(m.error));
          else p.resolve(m.result);
        });
      });
      child.on('exit', () => {
        for (const p of h.pending.values()) p.reject(new Error(`harness agent in ${this.netns} exited`));
        h.pending.clear();
      });
      return h;
    })();
    return await this.agent;
  }

  private async agentCall<T>(op: string, args: Record<string, unknown>): Promise<T> {
    const h = await this.getAgent();
    const id = h.nextId++;
    return await new Promise<T>((resolve, reject) => {
      h.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      h.child.send({ id, op, args });
    });
  }

  /**
   * Starts a UDP echo server on `port` (all addresses). A datagram `whoami` is answered with
   * the host's name; any other datagram is echoed back unchanged.
   */
  async udpEchoServer(port: number, opts: { bind?: string } = {}): Promise<EchoServer> {
    const id = await this.agentCall<number>('udpServer', { port, tag: this.name, bind: opts.bind });
    return { port, close: async () => void (await this.agentCall('close', { id })) };
  }

  /** Starts a TCP echo server on `port` (all addresses); `whoami` answers with the host name. */
  async tcpEchoServer(port: number): Promise<EchoServer> {
    const id = await this.agentCall<number>('tcpServer', { port, tag: this.name });
    return { port, close: async () => void (await this.agentCall('close', { id })) };
  }

  /**
   * Sends one UDP datagram to `ip:port` and waits for one reply.
   * @returns the reply, or null when none came within `timeoutMs` (default 1000) in any of
   *   `attempts` (default 3) tries.
   */
  async udpSend(ip: string, port: number, payload: string | Buffer, opts: { timeoutMs?: number; attempts?: number } = {}): Promise<Buffer | null> {
    const b64 = Buffer.from(payload).toString('base64');
    for (let i = 0; i < (opts.attempts ?? 3); i++) {
      const [r] = await this.agentCall<(string | null)[]>('udpRequest', { host: ip, port, payloads: [b64], timeoutMs: opts.timeoutMs ?? 1000 });
      if (r) return Buffer.from(r, 'base64');
    }
    return null;
  }

  /**
   * Sends every payload to a UDP echo server at `ip:port` and counts the exact echoes that
   * came back within `timeoutMs` (default 2000). UDP may drop: callers assert a threshold.
   */
  async udpEchoMany(ip: string, port: number, payloads: (string | Buffer)[], opts: { timeoutMs?: number } = {}): Promise<number> {
    const res = await this.agentCall<(string | null)[]>('udpRequest', {
      host: ip,
      port,
      payloads: payloads.map((p) => Buffer.from(p).toString('base64')),
      timeoutMs: opts.timeoutMs ?? 2000,
    });
    return res.filter((r) => r !== null).length;
  }

  /**
   * Opens a TCP connection to `ip:port`, writes `payload` and reads until as many bytes came
   * back (or the peer closed, for `whoami`). @returns the bytes read, or null on error/timeout.
   */
  async tcpSend(ip: string, port: number, payload: string | Buffer, opts: { timeoutMs?: number } = {}): Promise<Buffer | null> {
    const r = await this.agentCall<string | null>('tcpRequest', {
      host: ip,
      port,
      payload: Buffer.from(payload).toString('base64'),
      timeoutMs: opts.timeoutMs ?? 3000,
    });
    return r === null ? null : Buffer.from(r, 'base64');
  }

  /**
   * Captures packets on an interface of this host (default the underlay `eth0`) with
   * `tcpdump -w` into a temporary file, until `stop()`. Resolves once tcpdump listens.
   * @param opts.filter tcpdump filter words, e.g. `['udp']`.
   */
  async capture(opts: { iface?: string; filter?: string[] } = {}): Promise<Capture> {
    const dir = await mkdtemp(join(tmpdir(), `${this.network.prefix}-cap-`));
    const file = join(dir, `${this.name}-${this.nextTag++}.pcap`);
    const child = this.spawn('tcpdump', ['-i', opts.iface ?? 'eth0', '-n', '-U', '--immediate-mode', '-Z', 'root', '-s', '0', '-w', file, ...(opts.filter ?? [])], {
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'pipe',
      buffer: false,
    });
    this.network.tracker.track('file', dir, () => rmSync(dir, { recursive: true, force: true }));
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`tcpdump did not start in ${this.netns}: ${err}`)), 10_000);
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void Promise.resolve(child).then(() => {
        clearTimeout(timer);
        reject(new Error(`tcpdump exited in ${this.netns}: ${err}`));
      });
    });
    let stopped: Promise<Buffer> | undefined;
    return {
      file,
      stop: () =>
        (stopped ??= (async () => {
          await sleep(50); // let the last packets reach the file (-U flushes per packet)
          child.kill('SIGINT');
          await Promise.resolve(child);
          const bytes = await readFile(file).catch(() => Buffer.alloc(0));
          await rm(dir, { recursive: true, force: true });
          return bytes;
        })()),
    };
  }

  private async renderFaults(): Promise<void> {
    const rules = [...this.faults.values()];
    const table = this.network.faultTable;
    const script =
      `add table inet ${table}\ndelete table inet ${table}\n` +
      (rules.length === 0
        ? ''
        : `table inet ${table} {\n` +
          ` chain in { type filter hook input priority -10; policy accept;\n${rules.map((r) => `  ${r.replace(/DIR/g, 'saddr')}`).join('\n')}\n }\n` +
          ` chain out { type filter hook output priority -10; policy accept;\n${rules.map((r) => `  ${r.replace(/DIR/g, 'daddr')}`).join('\n')}\n }\n}\n`);
    await this.exec('nft', ['-f', '-'], { input: script });
  }

  private static addr(other: TestHost | string): string {
    return typeof other === 'string' ? other : other.underlayAddress;
  }

  /**
   * Drops all underlay traffic between this host and `other` (a host or an IPv4 address), in
   * both directions, with an nftables table in this host's namespace.
   */
  async blockPath(other: TestHost | string): Promise<void> {
    const ip = TestHost.addr(other);
    this.faults.set(`block:${ip}`, `ip DIR ${ip} drop`);
    await this.renderFaults();
  }

  /** Removes a {@link blockPath} rule. */
  async unblockPath(other: TestHost | string): Promise<void> {
    this.faults.delete(`block:${TestHost.addr(other)}`);
    await this.renderFaults();
  }

  /**
   * Drops `percent` % of packets (nftables `numgen random mod 100`) to and from `other`, or of
   * all underlay (`eth0`) traffic when `other` is absent. `percent` 0 removes the rule.
   */
  async dropShare(percent: number, other?: TestHost | string): Promise<void> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError(`percent must be 0..100: ${percent}`);
    const key = `drop:${other === undefined ? '*' : TestHost.addr(other)}`;
    if (percent === 0) this.faults.delete(key);
    else {
      const share = percent === 100 ? 'drop' : `numgen random mod 100 < ${percent} drop`;
      this.faults.set(key, other === undefined ? `meta nfproto ipv4 ${share}` : `ip DIR ${TestHost.addr(other)} ${share}`);
    }
    await this.renderFaults();
  }

  /** Removes every block and drop rule of this host. */
  async clearFaults(): Promise<void> {
    this.faults.clear();
    await this.renderFaults();
  }

  /** Adds another underlay address (e.g. `198.18.0.102/24`) to `eth0`; removed with the namespace. */
  async addUnderlayAddress(cidr: string): Promise<void> {
    await this.exec('ip', ['addr', 'add', cidr, 'dev', 'eth0']);
  }

  /** Stops this host's helper agent (echo servers close). */
  async closeAgent(): Promise<void> {
    const a = this.agent;
    this.agent = undefined;
    if (!a) return;
    const h = await a.catch(() => undefined);
    if (h && h.child.exitCode === null) {
      const exited = new Promise((r) => h.child.once('exit', r));
      h.child.kill('SIGTERM');
      await exited;
    }
  }
}

/** Options of {@link TestNetwork.create}. */
export interface TestNetworkOptions {
  /** Host names, or a count (names `h0`, `h1`, ...). At most 250 hosts. */
  hosts: string[] | number;
  /**
   * Name prefix of this run's namespaces; default `rnt-<4 random hex>`. Namespaces are named
   * `<prefix>-<host>` and `<prefix>-sw` (the switch).
   */
  prefix?: string;
}

/**
 * A set of hosts, each in its own network namespace, joined by a bridge in a switch
 * namespace: the underlay `198.18.0.0/24`, host i at `198.18.0.<i+1>` on `eth0`.
 * Nothing is created in the root namespace: veth pairs are created inside the switch
 * namespace with their peer end placed directly into the host namespace.
 *
 * Everything created is recorded by a {@link ResourceTracker} and removed by
 * {@link destroy}, on process exit, on SIGINT/SIGTERM/SIGHUP, and by the next run's pre-clean
 * if this process died hard.
 */
export class TestNetwork {
  readonly tracker = new ResourceTracker();
  readonly hosts: TestHost[] = [];
  /** Name of the switch namespace holding the bridge `br0`. */
  readonly switchNetns: string;
  /** Name of the nftables table the fault helpers use in each host namespace. */
  readonly faultTable = 'rnt_faults';
  private destroyed = false;

  private constructor(
    /** This run's prefix, e.g. `rnt-3fa1`. */
    readonly prefix: string,
    /** Random hex of this run (for building other unique names, e.g. interface names). */
    readonly runId: string,
  ) {
    this.switchNetns = `${prefix}-sw`;
  }

  /**
   * Creates the network. Removes stale namespaces of dead earlier runs first.
   * @throws Error when a namespace or link cannot be created (everything made so far is removed).
   */
  static async create(opts: TestNetworkOptions): Promise<TestNetwork> {
    const names = typeof opts.hosts === 'number' ? Array.from({ length: opts.hosts }, (_, i) => `h${i}`) : [...opts.hosts];
    if (names.length < 1 || names.length > 250) throw new RangeError('hosts: 1..250 hosts');
    for (const n of names) if (!/^[a-z0-9][a-z0-9-]{0,15}$/.test(n) || n === 'sw') throw new RangeError(`hosts: bad host name ${n}`);
    if (new Set(names).size !== names.length) throw new RangeError('hosts: duplicate host name');
    cleanStaleNetworks();
    const existing = runSyncQuiet('ip', ['netns', 'list']).stdout;
    let runId = randomBytes(2).toString('hex');
    // re-roll on a collision with a live run (its namespaces or its owner file)
    for (let i = 0; i < 20 && (existing.includes(`${HARNESS_PREFIX}-${runId}-`) || existsSync(join(RUN_DIR, `${HARNESS_PREFIX}-${runId}.pid`))); i++) {
      runId = randomBytes(2).toString('hex');
    }
    const prefix = opts.prefix ?? `${HARNESS_PREFIX}-${runId}`;
    const net = new TestNetwork(prefix, runId);
    try {
      mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
      const pidFile = join(RUN_DIR, `${prefix}.pid`);
      writeFileSync(pidFile, String(process.pid));
      net.tracker.track('file', pidFile, () => rmSync(pidFile, { force: true }));
      await net.addNetns(net.switchNetns);
      const swBatch = ['link set lo up', 'link add br0 type bridge', 'link set br0 up'];
      const hostNs = names.map((n) => `${prefix}-${n}`);
      await Promise.all(hostNs.map((ns) => net.addNetns(ns)));
      names.forEach((n, i) => {
        swBatch.push(`link add p${i} type veth peer name eth0 netns ${hostNs[i]}`, `link set p${i} master br0`, `link set p${i} up`);
      });
      await execa('ip', ['-n', net.switchNetns, '-batch', '-'], { input: swBatch.join('\n') + '\n' });
      await Promise.all(
        names.map(async (n, i) => {
          const ns = hostNs[i]!;
          const addr = `${UNDERLAY_PREFIX}.${i + 1}`;
          await execa('ip', ['-n', ns, '-batch', '-'], { input: `link set lo up\naddr add ${addr}/24 dev eth0\nlink set eth0 up\n` });
          net.hosts.push(new TestHost(n, i, ns, addr, net));
        }),
      );
      net.hosts.sort((a, b) => a.index - b.index);
      return net;
    } catch (err) {
      net.tracker.cleanupSync();
      throw err;
    }
  }

  private async addNetns(ns: string): Promise<void> {
    await execa('ip', ['netns', 'add', ns]);
    this.tracker.track('netns', ns, () => killAndDeleteNetnsSync(ns));
  }

  /** The host named `name`. @throws Error if there is none. */
  host(name: string): TestHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} in test network ${this.prefix}`);
    return h;
  }

  /** Namespaces of this network (hosts and switch). */
  get namespaces(): string[] {
    return [...this.hosts.map((h) => h.netns), this.switchNetns];
  }

  /**
   * Removes every namespace, process and file of this network, in reverse order of creation.
   * Idempotent; never throws (errors are collected in `tracker.errors`).
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all(this.hosts.map((h) => h.closeAgent().catch(() => undefined)));
    this.tracker.cleanupSync();
  }
}
