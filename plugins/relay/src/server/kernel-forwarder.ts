/**
 * Runs the relay's kernel fast path: the `nft` binary, fed a script on stdin (never rule text on
 * the command line), in the relay's own tables only ({@link RELAY_NFT_TABLE}, families inet and
 * netdev). Start flushes both (a relay that died with kill -9 left its pairs there), stop deletes
 * them. Pairs go to the netdev table (ingress + `fwd`, no routing) when it could be created and
 * both nodes are reached through the relay interface; else to the inet table.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { RustynetError } from '@rustynet/plugin-api';
import { renderNetdevAddPair, renderNetdevBaseTable } from './kernel-rules-netdev.js';
import { ipRouter, type RelayRouter } from './kernel-router.js';
import {
  RELAY_NFT_TABLE,
  renderAddPair,
  renderBaseTable,
  renderDeleteNodeLimits,
  renderDeletePair,
  renderDeleteTable,
  renderNodeLimits,
  type KernelNodeLimits,
  type KernelPair,
  type RelayNftFamily,
} from './kernel-rules.js';

/** Runs one nft script; rejects with the tool's stderr. Injectable for tests. */
export type NftRunner = (script: string) => Promise<string>;

/** Runs `nft [-j] -f -` with `script` on stdin (`json`: list commands with JSON output). */
export function nftRunner(nftPath = 'nft', extraArgs: readonly string[] = []): NftRunner {
  return (script) =>
    new Promise((resolve, reject) => {
      const child = spawn(nftPath, [...extraArgs, '-f', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', (e) => reject(e));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`nft exited ${code}: ${err.trim().slice(0, 500)}`))));
      child.stdin.on('error', () => {});
      child.stdin.end(script);
    });
}

function failed(reason: string, message: string, cause?: unknown): RustynetError {
  return new RustynetError('KERNEL_FORWARDING_FAILED', `relay kernel forwarding: ${message}`, {
    ...(cause !== undefined && { cause }),
    details: { reason },
  });
}

/** Options of {@link KernelForwarder.start}. */
export interface KernelForwarderOptions {
  /** The relay's IPv4 address (its UDP listen address; not 0.0.0.0). */
  relayAddress: string;
  /** Runs nft scripts (default: the `nft` binary). */
  run?: NftRunner;
  /** Reads `net.ipv4.ip_forward` (default: /proc/sys/net/ipv4/ip_forward of this namespace). */
  readIpForward?: () => Promise<string>;
  /** Route look-ups for the netdev table (default: `ip -j` in this namespace); `false`: inet table only. */
  router?: RelayRouter | false;
}

/**
 * The relay's nftables state: forwarded pairs and per-node limits. Methods serialise their nft
 * runs (one at a time, in call order). Every failure is KERNEL_FORWARDING_FAILED.
 */
export class KernelForwarder {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly limitRefs = new Map<string, number>();
  private readonly installed = new Map<number, RelayNftFamily>();
  private stopped = false;

  private constructor(
    readonly relayAddress: string,
    private readonly run: NftRunner,
    /** The relay interface when the netdev table is in use, else null (inet table only). */
    readonly netdevDevice: string | null,
    /** Why the netdev table is not in use (null when it is). */
    readonly netdevReason: string | null,
    private readonly router: RelayRouter | null,
  ) {}

  /** Tries to (re)create the netdev table on the relay interface; the reason when it cannot. */
  private static async startNetdev(
    relayAddress: string,
    run: NftRunner,
    router: RelayRouter | false | undefined,
  ): Promise<{ device: string; router: RelayRouter } | { reason: string }> {
    // Always flush a dead relay's netdev table (ignored when the family is unavailable: then none exists).
    const flush = (): Promise<unknown> => run(renderDeleteTable('netdev')).catch(() => undefined);
    if (router === false) return (await flush(), { reason: 'netdev forwarding disabled' });
    const r = router ?? ipRouter();
    let device: string;
    try {
      device = await r.deviceOf(relayAddress);
    } catch (err) {
      return (await flush(), { reason: `cannot find the relay interface: ${(err as Error).message}` });
    }
    if (device === 'lo') return (await flush(), { reason: 'the relay address is on the loopback interface' });
    try {
      await run(renderNetdevBaseTable(device));
    } catch (err) {
      return (await flush(), { reason: `cannot create table netdev ${RELAY_NFT_TABLE}: ${(err as Error).message}` });
    }
    return { device, router: r };
  }

  /**
   * Checks the prerequisites and (re)creates the relay's tables empty: inet always, netdev on the
   * relay interface when it can (else {@link netdevReason} says why and pairs go to inet).
   * @throws RustynetError KERNEL_FORWARDING_FAILED (`details.reason`: `listen_address`, `ip_forward`, `nft`).
   */
  static async start(opts: KernelForwarderOptions): Promise<KernelForwarder> {
    if (!isIPv4(opts.relayAddress) || opts.relayAddress === '0.0.0.0') {
      throw failed('listen_address', `needs a specific IPv4 listen address (got ${JSON.stringify(opts.relayAddress)})`);
    }
    const readFwd = opts.readIpForward ?? (() => readFile('/proc/sys/net/ipv4/ip_forward', 'utf8'));
    let fwd: string;
    try {
      fwd = (await readFwd()).trim();
    } catch (cause) {
      throw failed('ip_forward', 'cannot read net.ipv4.ip_forward', cause);
    }
    if (fwd !== '1') throw failed('ip_forward', 'net.ipv4.ip_forward is off on the relay host (set it to 1 to forward in the kernel)');
    const run = opts.run ?? nftRunner();
    try {
      await run(renderBaseTable());
    } catch (cause) {
      throw failed('nft', `cannot create table inet ${RELAY_NFT_TABLE}: ${(cause as Error).message}`, cause);
    }
    const nd = await KernelForwarder.startNetdev(opts.relayAddress, run, opts.router);
    return 'device' in nd
      ? new KernelForwarder(opts.relayAddress, run, nd.device, null, nd.router)
      : new KernelForwarder(opts.relayAddress, run, null, nd.reason, null);
  }

  /** The table and script for a pair: netdev when both nodes are reached through the relay interface. */
  private async pairScript(pair: KernelPair): Promise<{ family: RelayNftFamily; script: string }> {
    const inet = { family: 'inet' as const, script: renderAddPair(pair) }; // validates first: hostile input throws here
    if (this.netdevDevice === null || this.router === null) return inet;
    try {
      const [a, b] = await Promise.all([this.router.routeTo(pair.a.address), this.router.routeTo(pair.b.address)]);
      if (a.device !== this.netdevDevice || b.device !== this.netdevDevice) return inet;
      return { family: 'netdev', script: renderNetdevAddPair(pair, { device: this.netdevDevice, a: a.nextHop, b: b.nextHop }) };
    } catch {
      return inet; // no route now: the inet table (the kernel routes each datagram)
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Installs a pair (both directions), adding the nodes' limit objects when first used. */
  addPair(pair: KernelPair, limits: { a: KernelNodeLimits; b: KernelNodeLimits }): Promise<void> {
    renderAddPair(pair); // validates first: hostile input throws here, nothing runs
    const nodes = [limits.a, limits.b].filter((l, i, all) => all.findIndex((x) => x.name === l.name) === i);
    for (const l of nodes) renderNodeLimits(l);
    return this.serial(async () => {
      if (this.stopped) throw failed('stopped', 'the forwarder was stopped');
      const { family, script } = await this.pairScript(pair);
      // Limit objects live per table: a node's reference count is per family.
      const pre = nodes
        .filter((l) => !this.limitRefs.has(`${family}:${l.name}`))
        .map((l) => renderNodeLimits(l, family))
        .join('');
      try {
        await this.run(pre + script);
      } catch (cause) {
        throw failed('nft', `cannot add pair ${pair.id}: ${(cause as Error).message}`, cause);
      }
      for (const n of new Set([pair.a.limit, pair.b.limit])) {
        const k = `${family}:${n}`;
        this.limitRefs.set(k, (this.limitRefs.get(k) ?? 0) + 1);
      }
      this.installed.set(pair.id, family);
    });
  }

  /** Removes a pair; a node's limit objects go with its last pair. */
  removePair(pair: KernelPair): Promise<void> {
    renderDeletePair(pair); // validates first
    return this.serial(async () => {
      const family = this.installed.get(pair.id);
      if (this.stopped || family === undefined) return; // never installed (its add failed): nothing to remove
      this.installed.delete(pair.id);
      let post = '';
      for (const n of new Set([pair.a.limit, pair.b.limit])) {
        const k = `${family}:${n}`;
        const r = (this.limitRefs.get(k) ?? 0) - 1;
        if (r <= 0) {
          if (this.limitRefs.delete(k)) post += renderDeleteNodeLimits(n, family);
        } else this.limitRefs.set(k, r);
      }
      try {
        await this.run(renderDeletePair(pair, family) + post);
      } catch (cause) {
        throw failed('nft', `cannot remove pair ${pair.id}: ${(cause as Error).message}`, cause);
      }
    });
  }

  /** Pairs installed in the kernel now. */
  get pairs(): number {
    return this.installed.size;
  }

  /** Pairs installed in the netdev table now (the rest are in the inet table). */
  get netdevPairs(): number {
    let n = 0;
    for (const f of this.installed.values()) if (f === 'netdev') n++;
    return n;
  }

  /** Packets and bytes forwarded in the kernel, per counter name (`c<id>a`, `c<id>b`). */
  counters(): Promise<Map<string, { packets: number; bytes: number }>> {
    return this.serial(async () => {
      const out = new Map<string, { packets: number; bytes: number }>();
      if (this.stopped) return out;
      for (const family of this.netdevDevice === null ? ['inet'] : ['inet', 'netdev']) {
        const text = await this.run(`list counters table ${family} ${RELAY_NFT_TABLE}\n`);
        for (const m of text.matchAll(/counter (c\d+[ab]) \{\s*packets (\d+) bytes (\d+)/g)) {
          out.set(m[1], { packets: Number(m[2]), bytes: Number(m[3]) });
        }
      }
      return out;
    });
  }

  /** Deletes the relay's tables (idempotent). Later calls do nothing. */
  stop(): Promise<void> {
    return this.serial(async () => {
      if (this.stopped) return;
      this.stopped = true;
      this.limitRefs.clear();
      this.installed.clear();
      let netdevErr: unknown;
      if (this.netdevDevice !== null) await this.run(renderDeleteTable('netdev')).catch((e: unknown) => (netdevErr = e));
      try {
        await this.run(renderDeleteTable());
      } catch (cause) {
        throw failed('nft', `cannot delete table inet ${RELAY_NFT_TABLE}: ${(cause as Error).message}`, cause);
      }
      if (netdevErr !== undefined)
        throw failed('nft', `cannot delete table netdev ${RELAY_NFT_TABLE}: ${(netdevErr as Error).message}`, netdevErr);
    });
  }
}
