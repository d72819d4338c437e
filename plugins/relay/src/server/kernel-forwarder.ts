/**
 * Runs the relay's kernel fast path: the `nft` binary, fed a script on stdin (never rule text on
 * the command line), in the relay's own table only ({@link RELAY_NFT_TABLE}). Start flushes that
 * table (a relay that died with kill -9 left its pairs there), stop deletes it.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { RustynetError } from '@rustynet/plugin-api';
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
}

/**
 * The relay's nftables state: forwarded pairs and per-node limits. Methods serialise their nft
 * runs (one at a time, in call order). Every failure is KERNEL_FORWARDING_FAILED.
 */
export class KernelForwarder {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly limitRefs = new Map<string, number>();
  private readonly installed = new Set<number>();
  private stopped = false;

  private constructor(
    readonly relayAddress: string,
    private readonly run: NftRunner,
  ) {}

  /**
   * Checks the prerequisites and (re)creates the relay's table empty.
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
    return new KernelForwarder(opts.relayAddress, run);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Installs a pair (both directions), adding the nodes' limit objects when first used. */
  addPair(pair: KernelPair, limits: { a: KernelNodeLimits; b: KernelNodeLimits }): Promise<void> {
    const script = renderAddPair(pair); // validates first: hostile input throws here, nothing runs
    const pre = [limits.a, limits.b]
      .filter((l, i, all) => all.findIndex((x) => x.name === l.name) === i)
      .filter((l) => !this.limitRefs.has(l.name))
      .map(renderNodeLimits)
      .join('');
    return this.serial(async () => {
      if (this.stopped) throw failed('stopped', 'the forwarder was stopped');
      try {
        await this.run(pre + script);
      } catch (cause) {
        throw failed('nft', `cannot add pair ${pair.id}: ${(cause as Error).message}`, cause);
      }
      for (const n of [pair.a.limit, pair.b.limit]) this.limitRefs.set(n, (this.limitRefs.get(n) ?? 0) + 1);
      this.installed.add(pair.id);
    });
  }

  /** Removes a pair; a node's limit objects go with its last pair. */
  removePair(pair: KernelPair): Promise<void> {
    const script = renderDeletePair(pair);
    return this.serial(async () => {
      if (this.stopped || !this.installed.delete(pair.id)) return; // never installed (its add failed): nothing to remove
      let post = '';
      for (const n of [pair.a.limit, pair.b.limit]) {
        const r = (this.limitRefs.get(n) ?? 0) - 1;
        if (r <= 0) {
          if (this.limitRefs.delete(n)) post += renderDeleteNodeLimits(n);
        } else this.limitRefs.set(n, r);
      }
      try {
        await this.run(script + post);
      } catch (cause) {
        throw failed('nft', `cannot remove pair ${pair.id}: ${(cause as Error).message}`, cause);
      }
    });
  }

  /** Pairs installed in the kernel now. */
  get pairs(): number {
    return this.installed.size;
  }

  /** Packets and bytes forwarded in the kernel, per counter name (`c<id>a`, `c<id>b`). */
  counters(): Promise<Map<string, { packets: number; bytes: number }>> {
    return this.serial(async () => {
      const out = new Map<string, { packets: number; bytes: number }>();
      if (this.stopped) return out;
      const text = await this.run(`list counters table inet ${RELAY_NFT_TABLE}\n`);
      for (const m of text.matchAll(/counter (c\d+[ab]) \{\s*packets (\d+) bytes (\d+)/g)) {
        out.set(m[1], { packets: Number(m[2]), bytes: Number(m[3]) });
      }
      return out;
    });
  }

  /** Deletes the relay's table (idempotent). Later calls do nothing. */
  stop(): Promise<void> {
    return this.serial(async () => {
      if (this.stopped) return;
      this.stopped = true;
      this.limitRefs.clear();
      this.installed.clear();
      try {
        await this.run(renderDeleteTable());
      } catch (cause) {
        throw failed('nft', `cannot delete table inet ${RELAY_NFT_TABLE}: ${(cause as Error).message}`, cause);
      }
    });
  }
}
