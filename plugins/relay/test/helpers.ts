/** Test helpers: raw protocol clients on loopback, keys, a manual clock, a plugin context. */
import { createSocket, type Socket } from 'node:dgram';
import { generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import { expect } from 'chai';
import {
  isRustynetError,
  type Clock,
  type Counter,
  type Gauge,
  type Histogram,
  type Logger,
  type Metrics,
  type PluginContext,
  type RustynetError,
} from '@rustynet/plugin-api';
import { kernelRules, protocol } from '../src/index.js';

export interface TestKey {
  publicKeyB64: string;
  privateKey: KeyObject;
  sign(msg: Uint8Array): Promise<Uint8Array>;
}

/** A fresh Ed25519 identity key pair; the public key as raw 32 bytes in base64. */
export function makeKey(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  const publicKeyB64 = Buffer.from(jwk.x!, 'base64url').toString('base64');
  return { publicKeyB64, privateKey, sign: async (msg) => edSign(null, msg, privateKey) };
}

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public t = 1_700_000_000_000) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A plain UDP socket speaking the relay protocol by hand, counting bytes both ways. */
export class RawClient {
  readonly socket: Socket;
  bytesSent = 0;
  bytesReceived = 0;
  packetsReceived = 0;
  private queue: Buffer[] = [];
  private waiters: Array<{ pred: (b: Buffer) => boolean; resolve: (b: Buffer) => void }> = [];
  private seq = 0;
  /** HELLOs of valid size sent, and CHALLENGEs received: the server answers every such HELLO. */
  private hellosSent = 0;
  private challengesReceived = 0;
  private challengeWaiters: Array<() => void> = [];

  private constructor(
    socket: Socket,
    readonly server: { host: string; port: number },
  ) {
    this.socket = socket;
    socket.on('message', (msg) => {
      this.bytesReceived += msg.length;
      this.packetsReceived++;
      if (msg.length === protocol.CHALLENGE_SIZE && msg[0] === 1 && msg[1] === protocol.MessageType.CHALLENGE) {
        this.challengesReceived++;
        for (const w of this.challengeWaiters.splice(0)) w();
      }
      const i = this.waiters.findIndex((w) => w.pred(msg));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        w.resolve(msg);
      } else this.queue.push(msg);
    });
  }

  static async open(server: { host: string; port: number }): Promise<RawClient> {
    const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return new RawClient(s, server);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(buf: Buffer): Promise<void> {
    this.bytesSent += buf.length;
    if (buf.length >= protocol.HELLO_MIN_SIZE && buf[0] === 1 && buf[1] === protocol.MessageType.HELLO) this.hellosSent++;
    return new Promise((resolve, reject) => this.socket.send(buf, this.server.port, this.server.host, (e) => (e ? reject(e) : resolve())));
  }

  /** Resolves with the next received datagram matching `pred` (queued ones first). */
  next(pred: (b: Buffer) => boolean = () => true): Promise<Buffer> {
    const i = this.queue.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  /** Everything received and not yet consumed; empties the queue. */
  drain(): Buffer[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }

  async hello(size?: number): Promise<protocol.Challenge> {
    await this.send(protocol.encodeHello(size));
    const m = await this.next((b) => protocol.decodeChallenge(b) !== undefined);
    return protocol.decodeChallenge(m)!;
  }

  /** HELLO + REGISTER; resolves with the answer: 'registered' or the REJECT reason number. */
  async register(nodeId: string, key: TestKey, relayId: string, tamper?: (c: protocol.Challenge) => void): Promise<'registered' | number> {
    const ch = await this.hello();
    tamper?.(ch);
    const sig = await key.sign(protocol.registerSignatureInput(ch.body, nodeId, relayId));
    await this.send(protocol.encodeRegister(ch.body, nodeId, sig));
    const m = await this.next((b) => protocol.decodeRegistered(b) !== undefined || protocol.decodeReject(b) !== undefined);
    return protocol.decodeRegistered(m) ? 'registered' : protocol.decodeReject(m)!;
  }

  /**
   * A barrier: when it resolves, the server has processed every datagram this socket sent
   * before (loopback keeps order; the server handles datagrams one at a time), and this socket
   * has received everything the server sent it before the answer.
   * Registered sessions use KEEPALIVE/ACK; others HELLO/CHALLENGE.
   */
  async barrier(registered: boolean): Promise<void> {
    if (registered) {
      const seq = ++this.seq;
      await this.send(protocol.encodeKeepalive(seq));
      await this.next((b) => protocol.decodeKeepalive(b, true) === seq);
    } else {
      // Every valid HELLO is answered, in order: once as many CHALLENGEs arrived as HELLOs were
      // sent, the server has processed everything this socket sent before the last HELLO.
      await this.send(protocol.encodeHello());
      while (this.challengesReceived < this.hellosSent) await new Promise<void>((r) => this.challengeWaiters.push(r));
    }
  }

  async sendData(dest: string, payload: Buffer): Promise<void> {
    await this.send(protocol.encodeData(dest, payload));
  }

  /** DATA datagrams received so far (consumed from the queue), decoded. */
  takeData(): Array<{ from: string; payload: Buffer }> {
    const out: Array<{ from: string; payload: Buffer }> = [];
    const keep: Buffer[] = [];
    for (const b of this.drain()) {
      const d = protocol.decodeData(b);
      if (d) out.push({ from: d.nodeId, payload: b.subarray(d.payloadOffset) });
      else keep.push(b);
    }
    this.queue = keep;
    return out;
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

export const noopLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return noopLogger;
  },
};

/** A Metrics that records counter totals by `name{labels}`. */
export class RecordingMetrics implements Metrics {
  readonly values = new Map<string, number>();
  private key(name: string, labels?: Record<string, string>): string {
    const l = labels
      ? Object.entries(labels)
          .map(([k, v]) => `${k}="${v}"`)
          .join(',')
      : '';
    return l ? `${name}{${l}}` : name;
  }
  counter(name: string): Counter {
    return {
      inc: (labels?: Record<string, string>, value = 1) =>
        this.values.set(this.key(name, labels), (this.values.get(this.key(name, labels)) ?? 0) + value),
    };
  }
  gauge(name: string): Gauge {
    return {
      set: (a: Record<string, string> | number, b?: number) => {
        if (typeof a === 'number') this.values.set(name, a);
        else this.values.set(this.key(name, a), b!);
      },
    };
  }
  histogram(): Histogram {
    return { observe() {} };
  }
}

/** A logger that keeps every record (children share the list). */
export class RecordingLogger implements Logger {
  constructor(readonly records: Array<{ level: string; obj: object | string; msg?: string }> = []) {}
  private rec(level: string): (obj: object | string, msg?: string) => void {
    return (obj, msg) => void this.records.push({ level, obj, ...(msg !== undefined && { msg }) });
  }
  trace = this.rec('trace');
  debug = this.rec('debug');
  info = this.rec('info');
  warn = this.rec('warn');
  error = this.rec('error');
  child(): Logger {
    return this;
  }
}

/**
 * A real-time clock that records every `sleep(ms)` the plugin asks for (its back-offs) and lets a
 * test wait, without timing anything, until a condition holds at one of those sleeps.
 */
export class RecordingClock implements Clock {
  readonly sleeps: number[] = [];
  private waiters: Array<{ cond: () => boolean; resolve: () => void }> = [];
  /** Called at every sleep before it starts (e.g. to note state); may be replaced by the test. */
  onSleep: (ms: number) => void = () => {};
  now = (): number => Date.now();
  sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
    this.sleeps.push(ms);
    this.onSleep(ms);
    this.waiters = this.waiters.filter((w) => (w.cond() ? (w.resolve(), false) : true));
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return void reject(new Error('aborted'));
      const onAbort = (): void => {
        clearTimeout(t);
        reject(new Error('aborted'));
      };
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  };
  /** Resolves at the first sleep at which `cond()` is true (checked after recording that sleep). */
  untilSleep(cond: () => boolean): Promise<void> {
    return new Promise((resolve) => this.waiters.push({ cond, resolve }));
  }
}

/** A plugin context for the relay client, with real time (or the given clock and logger). */
export function makeContext(
  options: Record<string, unknown> = {},
  with_: { clock?: Clock; logger?: Logger } = {},
): PluginContext & { metrics: RecordingMetrics } {
  const metrics = new RecordingMetrics();
  const tap = { tapPromise() {} };
  return {
    pluginName: '@rustynet/relay',
    apiVersion: '1.0',
    options,
    logger: with_.logger ?? noopLogger,
    runner: {
      run: () => Promise.reject(new Error('the relay plugin runs no commands')),
      spawn: () => {
        throw new Error('the relay plugin runs no commands');
      },
    },
    metrics,
    clock: with_.clock ?? {
      now: () => Date.now(),
      sleep: (ms, signal) =>
        new Promise<void>((resolve, reject) => {
          if (signal?.aborted) return void reject(new Error('aborted'));
          const onAbort = (): void => {
            clearTimeout(t);
            reject(new Error('aborted'));
          };
          const t = setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          }, ms);
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
    },
    state: { dir: '/nonexistent', read: async () => undefined, write: async () => {}, delete: async () => {} },
    hooks: { netmapAccepted: tap, resolvePeerEndpoint: tap, applied: tap, shutdown: tap },
  };
}

/** A loopback UDP socket standing in for a backend (WireGuard, OpenVPN). */
export async function udpSocket(): Promise<{
  socket: Socket;
  port: number;
  received: Buffer[];
  next(): Promise<Buffer>;
  close(): Promise<void>;
}> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const received: Buffer[] = [];
  let waiter: ((b: Buffer) => void) | undefined;
  const queue: Buffer[] = [];
  socket.on('message', (m) => {
    received.push(m);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(m);
    } else queue.push(m);
  });
  return {
    socket,
    port: socket.address().port,
    received,
    next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => (waiter = r))),
    close: () => new Promise((r) => socket.close(() => r())),
  };
}

/** The RustynetError `p` rejects with (fails the test when it resolves or throws anything else). */
export async function rejection(p: Promise<unknown>): Promise<RustynetError> {
  try {
    await p;
  } catch (err) {
    expect(isRustynetError(err), String(err)).to.equal(true);
    return err as RustynetError;
  }
  return expect.fail('expected a rejection');
}

/**
 * A kernel-forwarded pair for rule-text tests: relay 198.18.0.10, a at 198.18.0.1:51820
 * (allocation 40001, limits `n0`), b at `bAddress`:51821 (allocation 40002, limits `n1`).
 */
export function kernelPair(over: Record<string, unknown> = {}, bAddress = '198.18.0.2'): kernelRules.KernelPair {
  return {
    id: 3,
    relay: '198.18.0.10',
    a: { address: '198.18.0.1', port: 51820, allocationPort: 40001, limit: 'n0' },
    b: { address: bAddress, port: 51821, allocationPort: 40002, limit: 'n1' },
    ...over,
  };
}

/** Asserts that `fn` throws `INVALID_INPUT` whose message names `field`. */
export function expectInvalid(fn: () => unknown, field: string): void {
  try {
    fn();
  } catch (err) {
    expect(isRustynetError(err, 'INVALID_INPUT'), String(err)).to.equal(true);
    expect((err as Error).message).to.contain(field);
    return;
  }
  expect.fail(`expected INVALID_INPUT naming ${field}`);
}
