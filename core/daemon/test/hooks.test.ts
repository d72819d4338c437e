import { expect } from 'chai';
import type { Netmap } from '@rustynet/plugin-api';
import { DaemonHooks, type HookFailure } from '../src/hooks/daemon-hooks.js';
import { HookTimeline } from '../src/hooks/timeline-interceptor.js';
import { makeNetmap } from './helpers.js';

describe('daemon hooks', () => {
  const netmap: Netmap = makeNetmap(2);
  const ctx = { peer: netmap.nodes[0], path: 'direct' as const };

  it('names taps <plugin>/<tap> and records them on the timeline', async () => {
    const hooks = new DaemonHooks();
    hooks.forPlugin('@acme/p').applied.tapPromise('seen', async () => undefined);
    await hooks.runApplied({ netmapVersion: 1, peersUpserted: 0, peersRemoved: 0, routesAdded: 0, routesRemoved: 0, durationMs: 0 });
    const [entry] = hooks.timeline.entries();
    expect(entry).to.include({ tap: '@acme/p/seen', plugin: '@acme/p', hook: 'applied', outcome: 'ok' });
    expect(entry.durationMs).to.be.a('number');
  });

  it('a veto string rejects the netmap and names the tap', async () => {
    const hooks = new DaemonHooks();
    let later = false;
    hooks.forPlugin('ok').netmapAccepted.tapPromise('fine', async () => undefined);
    hooks.forPlugin('guard').netmapAccepted.tapPromise('no', async () => 'too many nodes');
    hooks.forPlugin('late').netmapAccepted.tapPromise('after', async () => {
      later = true;
    });
    const veto = await hooks.runNetmapAccepted(netmap);
    expect(veto).to.deep.equal({ tap: 'guard/no', plugin: 'guard', reason: 'too many nodes' });
    expect(later).to.equal(false);
    const outcomes = hooks.timeline.entries().map((e) => e.outcome);
    expect(outcomes).to.deep.equal(['ok', 'veto']);
  });

  it('no veto when every tap accepts', async () => {
    const hooks = new DaemonHooks();
    hooks.forPlugin('a').netmapAccepted.tapPromise('x', async () => undefined);
    expect(await hooks.runNetmapAccepted(netmap)).to.equal(undefined);
  });

  it('a throwing netmapAccepted tap is reported by plugin name and vetoes (fail closed)', async () => {
    const failures: HookFailure[] = [];
    const hooks = new DaemonHooks({ onFailure: (f) => failures.push(f) });
    hooks.forPlugin('crashy').netmapAccepted.tapPromise('boom', async () => {
      throw new Error('kaboom');
    });
    const veto = await hooks.runNetmapAccepted(netmap);
    expect(veto?.plugin).to.equal('crashy');
    expect(veto?.reason).to.include('kaboom');
    expect(failures).to.have.length(1);
    expect(failures[0].error.code).to.equal('HOOK_FAILED');
    expect(failures[0].error.plugin).to.equal('crashy');
    expect(failures[0].error.message).to.include('crashy/boom');
  });

  it('a synchronous throw inside a tap is contained too', async () => {
    const failures: HookFailure[] = [];
    const hooks = new DaemonHooks({ onFailure: (f) => failures.push(f) });
    hooks.forPlugin('sync').applied.tapPromise('t', () => {
      throw new Error('sync boom');
    });
    await hooks.runApplied({ netmapVersion: 1, peersUpserted: 0, peersRemoved: 0, routesAdded: 0, routesRemoved: 0, durationMs: 0 });
    expect(failures[0]?.plugin).to.equal('sync');
  });

  it('a hanging tap times out with HOOK_FAILED and the next tap still runs', async () => {
    const failures: HookFailure[] = [];
    const hooks = new DaemonHooks({ deadlineMs: 30, onFailure: (f) => failures.push(f) });
    let ran = false;
    hooks.forPlugin('slowpoke').applied.tapPromise('hang', () => new Promise<void>(() => undefined));
    hooks.forPlugin('next').applied.tapPromise('run', async () => {
      ran = true;
    });
    await hooks.runApplied({ netmapVersion: 1, peersUpserted: 0, peersRemoved: 0, routesAdded: 0, routesRemoved: 0, durationMs: 0 });
    expect(ran).to.equal(true);
    expect(failures[0].error.code).to.equal('HOOK_FAILED');
    expect(failures[0].error.details?.timedOut).to.equal(true);
    expect(failures[0].plugin).to.equal('slowpoke');
    expect(hooks.timeline.entries()[0].outcome).to.equal('timeout');
  });

  it('a hanging netmapAccepted tap vetoes after the deadline', async () => {
    const hooks = new DaemonHooks({ deadlineMs: 20 });
    hooks.forPlugin('stuck').netmapAccepted.tapPromise('wait', () => new Promise<undefined>(() => undefined));
    const veto = await hooks.runNetmapAccepted(netmap);
    expect(veto?.plugin).to.equal('stuck');
  });

  it('resolvePeerEndpoint is a waterfall; a throwing or malformed tap is skipped', async () => {
    const failures: HookFailure[] = [];
    const hooks = new DaemonHooks({ onFailure: (f) => failures.push(f) });
    hooks.forPlugin('bad').resolvePeerEndpoint.tapPromise('throw', async () => {
      throw new Error('no');
    });
    hooks.forPlugin('relay').resolvePeerEndpoint.tapPromise('sub', async (ep) => (ep ? { host: '127.0.0.1', port: ep.port + 1 } : ep));
    hooks.forPlugin('junk').resolvePeerEndpoint.tapPromise('junk', async () => ({ host: '', port: -1 }));
    const out = await hooks.runResolvePeerEndpoint({ host: '198.18.0.2', port: 51820 }, ctx);
    expect(out).to.deep.equal({ host: '127.0.0.1', port: 51821 });
    expect(failures.map((f) => f.plugin)).to.deep.equal(['bad', 'junk']);
  });

  it('a late rejection of a timed-out tap does not escape as an unhandled rejection', async () => {
    const seen: unknown[] = [];
    const onRej = (r: unknown): void => {
      seen.push(r);
    };
    process.on('unhandledRejection', onRej);
    try {
      const hooks = new DaemonHooks({ deadlineMs: 5 });
      let rejectLater!: (e: Error) => void;
      hooks.forPlugin('late').applied.tapPromise('rej', () => new Promise<void>((_, rej) => (rejectLater = rej)));
      await hooks.runApplied({ netmapVersion: 1, peersUpserted: 0, peersRemoved: 0, routesAdded: 0, routesRemoved: 0, durationMs: 0 });
      rejectLater(new Error('late'));
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      expect(seen).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onRej);
    }
  });

  it('the timeline is a bounded ring buffer', () => {
    const t = new HookTimeline(3);
    for (let i = 0; i < 5; i++) t.record({ tap: `t${i}`, plugin: 'p', hook: 'applied', start: i, durationMs: 0, outcome: 'ok' });
    expect(t.entries().map((e) => e.tap)).to.deep.equal(['t2', 't3', 't4']);
  });

  it('refuses an unnamed tap', () => {
    const hooks = new DaemonHooks();
    expect(() => hooks.forPlugin('p').applied.tapPromise('', async () => undefined)).to.throw(/non-empty/);
  });
});
