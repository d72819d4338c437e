import { expect } from 'chai';
import type { NodeId } from '@rustynet/plugin-api';
import { PathController, type PathProber } from '../src/path/path-controller.js';
import type { ProbeOutcome, ProbePeer } from '../src/path/prober.js';
import { RttEstimator } from '../src/path/rtt-estimator.js';
import type { TunnelCounters } from '../src/path/tunnel-liveness.js';
import { makeNode } from './helpers.js';
import { ManualClock } from './path-fakes.js';

const INTERVAL = 500;

/**
 * A prober whose peers answer after `delayMs[peer]` (Infinity: never), on the manual clock; a
 * PING scored a miss and answered later is reported as `lateRttMs`, like `DirectPathProber`.
 */
class DelayProber implements PathProber {
  delayMs: Record<string, number> = {};
  private sent = new Map<NodeId, number>();
  private late = new Map<NodeId, number>();
  constructor(private readonly clock: ManualClock) {}
  setPeers(_peers: readonly ProbePeer[]): void {}
  canProbe(): boolean {
    return true;
  }
  ping(peer: NodeId): boolean {
    this.sent.set(peer, this.clock.now());
    return true;
  }
  takeResult(peer: NodeId, keepWaiting = false): ProbeOutcome {
    const now = this.clock.now();
    const lateAt = this.late.get(peer);
    let lateRttMs: number | undefined;
    const d = this.delayMs[peer] ?? 0;
    if (lateAt !== undefined && now - lateAt >= d) {
      lateRttMs = d;
      this.late.delete(peer);
    }
    const extra = lateRttMs !== undefined ? { lateRttMs } : {};
    const at = this.sent.get(peer);
    if (at === undefined) return { result: 'none', ...extra };
    if (now - at >= d) {
      this.sent.delete(peer);
      return { result: 'reply', rttMs: d, ...extra };
    }
    if (keepWaiting) return { result: 'pending', ...extra };
    this.sent.delete(peer);
    if (Number.isFinite(d)) this.late.set(peer, at);
    return { result: 'miss', ...extra };
  }
  clear(): void {
    this.sent.clear();
  }
}

function setup(counters?: () => Promise<readonly TunnelCounters[]>) {
  const clock = new ManualClock();
  const prober = new DelayProber(clock);
  // The relay path answers at once (these tests are about the direct path's scoring).
  const relayProber = new DelayProber(clock);
  const opened: string[] = [];
  const ctl = new PathController({
    selfId: 'n0',
    prober,
    relayProber,
    relay: {
      openPath(req) {
        opened.push(req.peer);
        return Promise.resolve({ host: '127.0.0.1', port: 40000 + opened.length });
      },
      async closePath() {},
    },
    backend: { async updatePeerEndpoint() {} },
    backendEndpoint: () => ({ host: '127.0.0.1', port: 51820 }),
    intervalMs: INTERVAL,
    clock,
    ...(counters && { tunnelCounters: counters }),
  });
  const ticks = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      clock.advance(INTERVAL);
      await ctl.tick();
    }
  };
  return { clock, prober, ctl, opened, ticks };
}

const nodes = [0, 1, 2].map((i) => makeNode(i, { probePort: 41641 }));

describe('RTT estimator (RFC 6298)', () => {
  it('starts at the initial time-out and follows SRTT + 4 RTTVAR, clamped', () => {
    const e = new RttEstimator({ minMs: 500, maxMs: 5000 });
    expect(e.timeoutMs()).to.equal(500);
    e.sample(100);
    expect(e.smoothedMs).to.equal(100);
    expect(e.variationMs).to.equal(50);
    expect(e.timeoutMs()).to.equal(500); // 100 + 200, clamped up to the interval
    e.sample(900);
    // RTTVAR = 3/4 * 50 + 1/4 * |100 - 900| = 237.5; SRTT = 7/8 * 100 + 1/8 * 900 = 200
    expect(e.variationMs).to.equal(237.5);
    expect(e.smoothedMs).to.equal(200);
    expect(e.timeoutMs()).to.equal(200 + 4 * 237.5);
    for (let i = 0; i < 5; i++) e.sample(20_000);
    expect(e.timeoutMs()).to.equal(5000);
    e.sample(-1);
    e.sample(Number.NaN);
    expect(e.timeoutMs()).to.equal(5000);
  });

  it('settles back to the minimum on a steady fast path', () => {
    const e = new RttEstimator({ minMs: 500, maxMs: 5000 });
    for (let i = 0; i < 5; i++) e.sample(900);
    for (let i = 0; i < 60; i++) e.sample(1);
    expect(e.timeoutMs()).to.equal(500);
  });
});

describe('path controller: adaptive probe time-outs and tunnel liveness', () => {
  it('slow but answered probes (CPU load) do not move a peer to the relay', async () => {
    const r = setup();
    r.ctl.start({ timer: false });
    await r.ctl.sync(nodes, () => true);
    await r.ticks(10);
    // Load: every answer now takes 800 ms (longer than the 500 ms probe interval), with jitter.
    for (let i = 0; i < 40; i++) {
      r.prober.delayMs['n1'] = 700 + (i % 3) * 100;
      await r.ticks(1);
    }
    const s = r.ctl.snapshot().find((p) => p.peer === 'n1');
    console.log(`      under load: SRTT ${s?.srttMs?.toFixed(0)} ms, probe time-out ${s?.probeTimeoutMs?.toFixed(0)} ms`);
    expect(r.opened).to.deep.equal([]);
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    expect(s?.probeTimeoutMs).to.be.greaterThan(INTERVAL);
  });

  it('an unanswered peer still goes to the relay after the misses (no tunnel counters)', async () => {
    const r = setup();
    r.ctl.start({ timer: false });
    await r.ctl.sync(nodes, () => true);
    await r.ticks(5);
    r.prober.delayMs['n1'] = Infinity;
    await r.ticks(4);
    expect(r.opened).to.deep.equal(['n1']);
  });

  it('a peer whose daemon stopped answering but whose tunnel still receives stays direct; once it goes quiet it moves', async () => {
    let rx = 1000;
    let advancing = true;
    const r = setup(() => {
      if (advancing) rx += 500;
      return Promise.resolve([
        { id: 'n1', rxBytes: rx, lastHandshakeAt: 1 },
        { id: 'n2', rxBytes: 5, lastHandshakeAt: 1 },
      ]);
    });
    r.ctl.start({ timer: false });
    await r.ctl.sync(nodes, () => true);
    await r.ticks(5);
    r.prober.delayMs['n1'] = Infinity; // its daemon is dead (SIGSTOP or killed)
    await r.ticks(20);
    expect(r.opened, 'moved while the tunnel still received').to.deep.equal([]);
    expect(r.ctl.pathFor('n1')).to.equal('direct');
    advancing = false; // the tunnel goes quiet too: the direct path is really gone
    await r.ticks(5);
    expect(r.opened).to.deep.equal(['n1']);
  });

  it('a failing counter read leaves the decision to the probes', async () => {
    const r = setup(() => Promise.reject(new Error('stats failed')));
    r.ctl.start({ timer: false });
    await r.ctl.sync(nodes, () => true);
    r.prober.delayMs['n2'] = Infinity;
    await r.ticks(4);
    expect(r.opened).to.deep.equal(['n2']);
  });
});
