/**
 * Running the impairment shim ({@link ImpairmentShim}) inside a test host's namespace, and
 * putting it transparently on the path to a UDP server there: an nftables `redirect` in the
 * host's prerouting sends datagrams arriving on `eth0` for the server's port to the shim, which
 * forwards them (impaired) to the server; conntrack gives the replies the server's port back.
 * Neither side is reconfigured.
 */
import { createInterface } from 'node:readline';
import type { TestHost } from '@rustynet/conformance-kit/harness';
import type { ImpairmentProfile, ImpairmentShimOptions, ImpairmentStats, UdpAddress } from './impairment.js';

/** Name of the nftables table (in the host's own namespace) holding the redirect. */
const TABLE = 'rn_impair';
const PROCESS_JS = new URL('./impairment-process.js', import.meta.url).pathname;

/** A shim running in a namespace. */
export interface NamespaceShim {
  /** Where it listens. */
  readonly listening: UdpAddress;
  /** Its counters. */
  stats(): Promise<ImpairmentStats>;
  /** Changes its impairments from now on. @throws Error with the shim's message (a RangeError naming the field). */
  setProfiles(p: { toServer?: ImpairmentProfile; toClient?: ImpairmentProfile }): Promise<void>;
  /**
   * Re-sends the last client → server datagram whose type byte (second byte) is `type`,
   * unimpaired, from a new source port (`new`) or from that client's own upstream socket (`same`).
   * @throws Error when none was recorded.
   */
  replay(type: number, from: 'new' | 'same'): Promise<void>;
  /** Removes the redirect, stops the process. @returns its final counters (null if it died). Idempotent. */
  stop(): Promise<ImpairmentStats | null>;
}

/** What {@link startShimInNamespace} needs beyond the shim's own options. */
export interface NamespaceShimOptions extends ImpairmentShimOptions {
  /**
   * Redirect UDP datagrams that arrive on `eth0` for this port to the shim (the server's port:
   * the shim then sits transparently in front of it). Without it, clients must send to
   * `listen` themselves.
   */
  redirectPort?: number;
}

/**
 * Starts the shim in `host`'s namespace (tracked: killed on the network's destroy and on
 * signals; the redirect goes with the namespace) and, with `redirectPort`, installs the redirect.
 * @throws Error with the shim's message when it does not start.
 */
export async function startShimInNamespace(host: TestHost, opts: NamespaceShimOptions): Promise<NamespaceShim> {
  const { redirectPort, ...shimOpts } = opts;
  const child = host.spawn(process.execPath, [PROCESS_JS, JSON.stringify(shimOpts)], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'inherit',
    buffer: false,
  });
  const { stdin, stdout } = child;
  if (!stdin || !stdout) throw new Error('impairment shim: no stdio pipes');
  const waiting: Array<(o: Record<string, unknown>) => void> = [];
  let finalStats: ImpairmentStats | null = null;
  const lines = createInterface({ input: stdout });
  lines.on('line', (l) => {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(l) as Record<string, unknown>;
    } catch {
      return;
    }
    if (o['final']) finalStats = o['final'] as ImpairmentStats;
    else waiting.shift()?.(o);
  });
  const exited = Promise.resolve(child).then(() => undefined);
  const answer = (): Promise<Record<string, unknown>> =>
    Promise.race([new Promise<Record<string, unknown>>((r) => waiting.push(r)), exited.then(() => ({ error: 'impairment shim exited' }))]);
  let chain: Promise<unknown> = Promise.resolve();
  const command = (cmd: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const next = chain.then(async () => {
      const a = answer();
      stdin.write(`${JSON.stringify(cmd)}\n`);
      return a;
    });
    chain = next.catch(() => undefined);
    return next;
  };
  const first = await answer();
  if (!first['listening']) throw new Error(`impairment shim in ${host.netns}: ${JSON.stringify(first['error'])}`);
  const listening = first['listening'] as UdpAddress;
  const nft = (script: string): Promise<unknown> => host.exec('nft', ['-f', '-'], { input: script });
  if (redirectPort !== undefined) {
    await nft(
      `add table inet ${TABLE}\ndelete table inet ${TABLE}\ntable inet ${TABLE} {\n chain pre { type nat hook prerouting priority -100; policy accept;\n` +
        `  iifname "eth0" udp dport ${redirectPort} redirect to :${listening.port}\n }\n}\n`,
    );
  }
  const ok = (o: Record<string, unknown>): void => {
    if (o['error']) throw new Error(`impairment shim in ${host.netns}: ${JSON.stringify(o['error'])}`);
  };
  let stopped: Promise<ImpairmentStats | null> | undefined;
  return {
    listening,
    stats: async () => {
      const o = await command({ cmd: 'stats' });
      ok(o);
      return o['stats'] as ImpairmentStats;
    },
    setProfiles: async (p) => ok(await command({ cmd: 'profiles', ...p })),
    replay: async (type, from) => ok(await command({ cmd: 'replay', type, from })),
    stop: () =>
      (stopped ??= (async () => {
        if (redirectPort !== undefined) await nft(`add table inet ${TABLE}\ndelete table inet ${TABLE}\n`).catch(() => undefined);
        stdin.end();
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
        return finalStats;
      })()),
  };
}
