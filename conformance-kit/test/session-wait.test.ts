import { expect } from 'chai';
import { backendTests } from '../src/suites/backend/index.js';
import { waitForSession } from '../src/suites/backend/session-wait.js';

/**
 * A fake peer whose session is back `readyAtMs` after the wait starts, on a fake clock: each
 * ping costs 1 s when unanswered (as `ping -c 1 -W 1`), nothing really sleeps.
 */
function fakePeer(readyAtMs: number): { ping: () => Promise<boolean>; now: () => number; sleep: (ms: number) => Promise<void> } {
  let clock = 0;
  return {
    now: () => clock,
    sleep: (ms) => {
      clock += ms;
      return Promise.resolve();
    },
    ping: () => {
      if (clock >= readyAtMs) return Promise.resolve(true);
      clock += 1000;
      return Promise.resolve(false);
    },
  };
}

describe('sessionReestablishSeconds: the kit waits for a new session up to the declared bound, never longer (unit)', () => {
  it('without a declaration the kit default applies: 3 pings, a session back after 5 s fails', async () => {
    const p = fakePeer(5000);
    const r = await waitForSession(p.ping, { minAttempts: 3, boundMs: 0, now: p.now, sleep: p.sleep });
    expect(r.reply).to.equal(false);
    expect(r.attempts).to.equal(3);
  });

  it('a backend within its declared bound passes (declared 40 s, session back after 30 s)', async () => {
    const p = fakePeer(30_000);
    const r = await waitForSession(p.ping, { minAttempts: 3, boundMs: 40_000, now: p.now, sleep: p.sleep });
    expect(r.reply).to.equal(true);
    expect(r.waitedMs).to.equal(30_000);
  });

  it('a backend slower than its declared bound still fails (declared 10 s, session back after 25 s)', async () => {
    const p = fakePeer(25_000);
    const r = await waitForSession(p.ping, { minAttempts: 3, boundMs: 10_000, now: p.now, sleep: p.sleep });
    expect(r.reply).to.equal(false);
    expect(r.waitedMs).to.equal(10_000);
  });

  it('a ping that fails at once is spaced, not spun', async () => {
    let clock = 0;
    let pings = 0;
    const r = await waitForSession(
      () => {
        pings++;
        return Promise.resolve(false);
      },
      {
        minAttempts: 1,
        boundMs: 5000,
        now: () => clock,
        sleep: (ms) => {
          clock += ms;
          return Promise.resolve();
        },
      },
    );
    expect(r.reply).to.equal(false);
    expect(pings).to.equal(6);
  });

  it('only the tests that re-establish a session wait for it; isolation, spoofing, secrets and bad input never do', () => {
    const waiting = backendTests
      .filter((t) => (t.sessionWaits ?? 0) > 0)
      .map((t) => t.id)
      .sort();
    expect(waiting).to.deep.equal(
      [
        'backend.changes.mixed-batch',
        'backend.changes.rekey-peer',
        'backend.endpoints.ipv6-underlay',
        'backend.endpoints.upsert-new-endpoint',
        'backend.fault.host-killed',
        'backend.fault.process-killed',
        'backend.fault.underlay-outage',
        'backend.peers.batch-50-traffic',
        'backend.peers.remove-isolates',
        'backend.repeat.restart-cycles',
        'backend.routes.overlay-change-keeps-lan',
        'backend.state.concurrent-calls',
        'backend.state.restart',
      ].sort(),
    );
    expect(waiting.filter((id) => /\.(isolation|secrets|bad-input|encryption)\./.test(id))).to.deep.equal([]);
  });
});
