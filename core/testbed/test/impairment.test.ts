/**
 * The impairment shim on loopback (no root): it really drops, duplicates, reorders and delays
 * at the configured rates (binomial bounds of ±5 standard deviations on counts, never times),
 * is deterministic for a seed, forwards both ways, keeps clients apart and closes its sockets.
 */
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { ImpairmentShim, validateProfile, type ImpairmentShimOptions } from '../src/index.js';

const yieldOnce = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

/** Polls `pred` (bounded by iterations, not asserted on time). @throws when it never holds. */
async function until(pred: () => boolean, what: string, iterations = 20_000): Promise<void> {
  for (let i = 0; i < iterations; i++) {
    if (pred()) return;
    await yieldOnce();
  }
  throw new Error(`never: ${what}`);
}

/** A UDP server that records what it receives (sequence numbers) and echoes when asked to. */
async function server(echo = false): Promise<{ sock: Socket; port: number; got: number[]; sources: Set<string> }> {
  const sock = createSocket('udp4');
  const got: number[] = [];
  const sources = new Set<string>();
  sock.on('message', (m, r) => {
    got.push(m.readUInt32BE(0));
    sources.add(`${r.address}:${r.port}`);
    if (echo) sock.send(m, r.port, r.address);
  });
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return { sock, port: sock.address().port, got, sources };
}

async function client(): Promise<{ sock: Socket; got: number[] }> {
  const sock = createSocket('udp4');
  const got: number[] = [];
  sock.on('message', (m) => got.push(m.readUInt32BE(0)));
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return { sock, got };
}

const seqBuf = (i: number): Buffer => {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(i, 0);
  return b;
};

/** Expects `x` within ±5 sd of a binomial(n, p) count. */
function withinBinomial(x: number, n: number, p: number, what: string): void {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  expect(x, `${what}: ${x} of ${n} (expected ${mean.toFixed(0)} ± ${(5 * sd).toFixed(0)})`).to.be.within(mean - 5 * sd, mean + 5 * sd);
}

describe('impairment shim (loopback)', function () {
  this.timeout(60_000);
  const open: Array<{ close: () => unknown }> = [];
  const shims: ImpairmentShim[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) s.close();
    for (const s of shims.splice(0)) await s.stop();
  });

  async function setup(opts: Omit<ImpairmentShimOptions, 'listen' | 'upstream'>, echo = false) {
    const srv = await server(echo);
    const shim = new ImpairmentShim({ ...opts, listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: srv.port } });
    shims.push(shim);
    const at = await shim.start();
    const cli = await client();
    open.push(srv.sock, cli.sock);
    /** Sends `n` datagrams in batches of 50, waiting until the shim has taken each batch (no queue overflow). */
    const send = async (n: number, from = 0): Promise<void> => {
      for (let i = from; i < from + n; i++) {
        cli.sock.send(seqBuf(i), at.port, at.host);
        if ((i + 1 - from) % 50 === 0) await until(() => shim.stats().toServer.received >= i + 1 - from, 'shim took the batch');
      }
      await until(() => shim.stats().toServer.received >= n, 'shim took everything');
    };
    return { srv, shim, at, cli, send };
  }

  it('drops the configured share, forwards the rest exactly once', async () => {
    const { srv, shim, send } = await setup({ seed: 1, toServer: { lossPercent: 20 } });
    await send(5000);
    const s = shim.stats().toServer;
    await until(() => srv.got.length >= s.forwarded, 'server got every forwarded datagram');
    expect(s.received).to.equal(5000);
    withinBinomial(s.dropped, 5000, 0.2, 'dropped');
    expect(srv.got.length).to.equal(5000 - s.dropped);
    expect(new Set(srv.got).size, 'no duplicates').to.equal(srv.got.length);
  });

  it('duplicates the configured share (the copy is a second datagram)', async () => {
    const { srv, shim, send } = await setup({ seed: 2, toServer: { duplicatePercent: 25 } });
    await send(4000);
    const s = shim.stats().toServer;
    await until(() => srv.got.length >= s.forwarded, 'server got every copy');
    withinBinomial(s.duplicated, 4000, 0.25, 'duplicated');
    expect(srv.got.length).to.equal(4000 + s.duplicated);
    expect(s.dropped).to.equal(0);
    const counts = new Map<number, number>();
    for (const x of srv.got) counts.set(x, (counts.get(x) ?? 0) + 1);
    expect([...counts.values()].filter((c) => c === 2).length, 'datagrams seen twice').to.equal(s.duplicated);
    expect(counts.size, 'every datagram arrived').to.equal(4000);
  });

  it('reorders the configured share: each held datagram is overtaken by later ones', async () => {
    const { srv, shim, send } = await setup({ seed: 3, toServer: { reorderPercent: 20, reorderWindow: 3 } });
    await send(3000);
    await until(() => srv.got.length >= 3000, 'every datagram arrived');
    const s = shim.stats().toServer;
    withinBinomial(s.reordered, 3000, 0.2, 'reordered');
    // A datagram is late when a higher sequence number arrived before it.
    let max = -1;
    let late = 0;
    for (const x of srv.got) {
      if (x < max) late++;
      max = Math.max(max, x);
    }
    // Every held datagram arrives late, except one held at the very end of a batch with nothing after it.
    expect(late, `late arrivals vs held (${s.reordered})`).to.be.within(s.reordered - 3000 / 50, s.reordered);
    expect(late).to.be.greaterThan(0);
    expect([...srv.got].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 3000 }, (_, i) => i));
  });

  it('delays: a datagram through the delayed shim arrives after one sent later on a direct path', async () => {
    const { srv, shim, at, cli } = await setup({ seed: 4, toServer: { delayMs: 200 } });
    cli.sock.send(seqBuf(1), at.port, at.host);
    await until(() => shim.stats().toServer.received === 1, 'shim took it');
    cli.sock.send(seqBuf(2), srv.port, '127.0.0.1');
    await until(() => srv.got.length === 2, 'both arrived');
    expect(srv.got).to.deep.equal([2, 1]);
    expect(shim.stats().toServer.delayed).to.equal(1);
  });

  it('forwards both ways, impairing each direction with its own profile', async () => {
    const { srv, shim, cli, send } = await setup({ seed: 5, toClient: { lossPercent: 30 } }, true);
    await send(3000);
    await until(() => srv.got.length === 3000, 'server got everything (toServer unimpaired)');
    await until(() => shim.stats().toClient.received === 3000, 'shim took every echo');
    const s = shim.stats();
    await until(() => cli.got.length === s.toClient.forwarded, 'client got every forwarded echo');
    expect(s.toServer.dropped).to.equal(0);
    withinBinomial(s.toClient.dropped, 3000, 0.3, 'echoes dropped');
    expect(cli.got.length).to.equal(3000 - s.toClient.dropped);
  });

  it('is deterministic for a seed, and another seed decides differently', async () => {
    const run = async (seed: number): Promise<number[]> => {
      const { srv, shim, send } = await setup({ seed, toServer: { lossPercent: 30 } });
      await send(500);
      await until(() => srv.got.length === shim.stats().toServer.forwarded, 'all forwarded arrived');
      return [...srv.got].sort((a, b) => a - b);
    };
    const a = await run(42);
    const b = await run(42);
    const c = await run(43);
    expect(a).to.deep.equal(b);
    expect(a).to.not.deep.equal(c);
  });

  it('gives each client its own upstream socket and returns replies to the right client', async () => {
    const { srv, shim, at, cli } = await setup({ seed: 6 }, true);
    const other = await client();
    open.push(other.sock);
    cli.sock.send(seqBuf(7), at.port, at.host);
    other.sock.send(seqBuf(9), at.port, at.host);
    await until(() => cli.got.length === 1 && other.got.length === 1, 'both echoed');
    expect(cli.got).to.deep.equal([7]);
    expect(other.got).to.deep.equal([9]);
    expect(srv.sources.size).to.equal(2);
    expect(shim.stats().clients).to.equal(2);
  });

  it('closes every socket on stop (the port can be bound again, no UDP handle left)', async () => {
    const udpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWRAP').length;
    const before = udpHandles();
    const srv = await server(true);
    const shim = new ImpairmentShim({ seed: 7, listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: srv.port } });
    const at = await shim.start();
    const c1 = await client();
    const c2 = await client();
    c1.sock.send(seqBuf(1), at.port, at.host);
    c2.sock.send(seqBuf(2), at.port, at.host);
    await until(() => c1.got.length === 1 && c2.got.length === 1, 'echoes');
    expect(shim.openSockets()).to.equal(3);
    await shim.stop();
    await shim.stop(); // idempotent
    expect(shim.openSockets()).to.equal(0);
    for (const s of [srv.sock, c1.sock, c2.sock]) await new Promise<void>((r) => s.close(() => r()));
    await until(() => udpHandles() === before, 'UDP handles back to the baseline');
    const again = createSocket('udp4');
    again.bind(at.port, '127.0.0.1');
    await once(again, 'listening');
    await new Promise<void>((r) => again.close(() => r()));
  });

  it('refuses a bad profile with a RangeError naming the field', () => {
    expect(() => validateProfile({ lossPercent: 101 }, 'toServer')).to.throw(RangeError, /toServer\.lossPercent/);
    expect(() => validateProfile({ reorderWindow: 0 }, 'toClient')).to.throw(RangeError, /toClient\.reorderWindow/);
    expect(() => validateProfile({ delayMs: -1 }, 'toClient')).to.throw(RangeError, /toClient\.delayMs/);
    expect(
      () =>
        new ImpairmentShim({
          seed: 1,
          listen: { host: '127.0.0.1', port: 0 },
          upstream: { host: '127.0.0.1', port: 9 },
          toServer: { duplicatePercent: NaN },
        }),
    ).to.throw(RangeError, /toServer\.duplicatePercent/);
  });
});
