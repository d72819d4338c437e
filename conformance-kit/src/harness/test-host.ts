/**
 * {@link TestHost}: one host of a test network, a namespace with helpers that run inside it
 * (commands, ping, echo servers and clients through the host's agent, captures, faults).
 */
import { execa, type ResultPromise, type Options as ExecaOptions } from 'execa';
import { AgentConnection } from './agent-connection.js';
import { startCapture, type Capture } from './capture.js';
import { UnderlayFaults } from './faults.js';
import type { TestNetwork } from './test-network.js';

export type { Capture } from './capture.js';

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

/** A running UDP/TCP echo server, see {@link TestHost.udpEchoServer}. */
export interface EchoServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * One host of a {@link TestNetwork}: a network namespace with `lo` up and `eth0` on the
 * shared underlay bridge. Every helper runs inside the host's namespace.
 */
export class TestHost {
  private readonly agent: AgentConnection;
  private readonly faults: UnderlayFaults;
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
  ) {
    this.agent = new AgentConnection(netns, network.tracker);
    this.faults = new UnderlayFaults(network.faultTable, async (script) => void (await this.exec('nft', ['-f', '-'], { input: script })));
  }

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
    return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', exitCode: r.exitCode ?? -1 };
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
      const r = await this.exec(
        'ping',
        [...(v6 ? ['-6'] : []), '-n', '-q', '-c', String(opts.count ?? 1), '-W', String(opts.timeoutS ?? 1), ip],
        {
          reject: false,
        },
      );
      if (r.exitCode === 0) return true;
    }
    return false;
  }

  /**
   * Starts a UDP echo server on `port` (all addresses). A datagram `whoami` is answered with
   * the host's name; any other datagram is echoed back unchanged.
   */
  async udpEchoServer(port: number, opts: { bind?: string } = {}): Promise<EchoServer> {
    const id = await this.agent.call<number>('udpServer', { port, tag: this.name, bind: opts.bind });
    return { port, close: async () => void (await this.agent.call('close', { id })) };
  }

  /** Starts a TCP echo server on `port` (all addresses); `whoami` answers with the host name. */
  async tcpEchoServer(port: number): Promise<EchoServer> {
    const id = await this.agent.call<number>('tcpServer', { port, tag: this.name });
    return { port, close: async () => void (await this.agent.call('close', { id })) };
  }

  /**
   * Sends one UDP datagram to `ip:port` and waits for one reply.
   * @returns the reply, or null when none came within `timeoutMs` (default 1000) in any of
   *   `attempts` (default 3) tries.
   */
  async udpSend(
    ip: string,
    port: number,
    payload: string | Buffer,
    opts: { timeoutMs?: number; attempts?: number } = {},
  ): Promise<Buffer | null> {
    const b64 = Buffer.from(payload).toString('base64');
    for (let i = 0; i < (opts.attempts ?? 3); i++) {
      const [r] = await this.agent.call<(string | null)[]>('udpRequest', {
        host: ip,
        port,
        payloads: [b64],
        timeoutMs: opts.timeoutMs ?? 1000,
      });
      if (r) return Buffer.from(r, 'base64');
    }
    return null;
  }

  /**
   * Sends every payload to a UDP echo server at `ip:port` and counts the exact echoes that
   * came back within `timeoutMs` (default 2000). UDP may drop: callers assert a threshold.
   */
  async udpEchoMany(ip: string, port: number, payloads: (string | Buffer)[], opts: { timeoutMs?: number } = {}): Promise<number> {
    const res = await this.agent.call<(string | null)[]>('udpRequest', {
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
    const r = await this.agent.call<string | null>('tcpRequest', {
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
    return startCapture(this, this.network.tracker, this.network.prefix, () => `${this.name}-${this.nextTag++}.pcap`, opts);
  }

  private static addr(other: TestHost | string): string {
    return typeof other === 'string' ? other : other.underlayAddress;
  }

  /**
   * Drops all underlay traffic between this host and `other` (a host or an IPv4 address), in
   * both directions, with an nftables table in this host's namespace.
   */
  async blockPath(other: TestHost | string): Promise<void> {
    await this.faults.block(TestHost.addr(other));
  }

  /** Removes a {@link blockPath} rule. */
  async unblockPath(other: TestHost | string): Promise<void> {
    await this.faults.unblock(TestHost.addr(other));
  }

  /**
   * Drops `percent` % of packets (nftables `numgen random mod 100`) to and from `other`, or of
   * all underlay (`eth0`) traffic when `other` is absent. `percent` 0 removes the rule.
   */
  async dropShare(percent: number, other?: TestHost | string): Promise<void> {
    await this.faults.dropShare(percent, other === undefined ? undefined : TestHost.addr(other));
  }

  /** Removes every block and drop rule of this host. */
  async clearFaults(): Promise<void> {
    await this.faults.clear();
  }

  /** Adds another underlay address (e.g. `198.18.0.102/24`) to `eth0`; removed with the namespace. */
  async addUnderlayAddress(cidr: string): Promise<void> {
    await this.exec('ip', ['addr', 'add', cidr, 'dev', 'eth0']);
  }

  /** Stops this host's helper agent (echo servers close). */
  async closeAgent(): Promise<void> {
    await this.agent.close();
  }
}
