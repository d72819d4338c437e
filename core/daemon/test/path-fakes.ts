import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { RustynetError, type Clock, type Endpoint } from '@rustynet/plugin-api';
import type { ProbeTransport } from '../src/path/probe-transport.js';
import { probeSigner } from '../src/path/probe-protocol.js';

/** A clock that only moves when told to. `sleep` resolves when `advance` passes its deadline. */
export class ManualClock implements Clock {
  private timers: Array<{ at: number; resolve: () => void }> = [];
  constructor(public t = Date.UTC(2026, 10, 23, 12, 0, 0)) {}
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new RustynetError('ABORTED', 'sleep aborted'));
      const timer = { at: this.t + ms, resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((x) => x !== timer);
          reject(new RustynetError('ABORTED', 'sleep aborted'));
        },
        { once: true },
      );
    });
  }
  advance(ms: number): void {
    this.t += ms;
    const due = this.timers.filter((x) => x.at <= this.t);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const d of due) d.resolve();
  }
}

const key = (e: Endpoint): string => `${e.host}:${e.port}`;

/**
 * An in-memory datagram network: transports attached at `host:port`; delivery is synchronous.
 * `block(host)` drops everything to and from that host (like the kit's `blockPath`).
 */
export class FakeNet {
  private nodes = new Map<string, FakeTransport>();
  private blocked = new Set<string>();
  /** Every datagram offered to the network, delivered or not. */
  log: Array<{ from: string; to: string; bytes: number; delivered: boolean }> = [];

  attach(at: Endpoint): FakeTransport {
    const t = new FakeTransport(this, at);
    this.nodes.set(key(at), t);
    return t;
  }
  detach(at: Endpoint): void {
    this.nodes.delete(key(at));
  }
  block(host: string): void {
    this.blocked.add(host);
  }
  unblock(host: string): void {
    this.blocked.delete(host);
  }
  deliver(data: Uint8Array, from: Endpoint, to: Endpoint): void {
    const dst = this.nodes.get(key(to));
    const ok = dst !== undefined && !this.blocked.has(from.host) && !this.blocked.has(to.host);
    this.log.push({ from: key(from), to: key(to), bytes: data.length, delivered: ok });
    if (ok) dst.receive(Buffer.from(data), from);
  }
}

/** A {@link ProbeTransport} on a {@link FakeNet}. */
export class FakeTransport implements ProbeTransport {
  private handler: ((data: Buffer, from: Endpoint) => void) | undefined;
  closed = false;
  constructor(
    private readonly net: FakeNet,
    readonly at: Endpoint,
  ) {}
  send(data: Uint8Array, to: Endpoint): void {
    if (!this.closed) this.net.deliver(data, this.at, to);
  }
  onMessage(handler: (data: Buffer, from: Endpoint) => void): void {
    this.handler = handler;
  }
  receive(data: Buffer, from: Endpoint): void {
    if (!this.closed) this.handler?.(data, from);
  }
  async close(): Promise<void> {
    this.closed = true;
    this.net.detach(this.at);
  }
}

/** An Ed25519 identity: private key object, raw public key in base64, a probe signer. */
export interface TestIdentity {
  privateKey: KeyObject;
  publicKeyB64: string;
  sign: (data: Uint8Array) => Uint8Array;
  pem: string;
}

export function identity(): TestIdentity {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    privateKey,
    publicKeyB64: Buffer.from(jwk.x!, 'base64url').toString('base64'),
    sign: probeSigner(privateKey),
    pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}
