import { expect } from 'chai';
import { isRustynetError, type NetmapRelay } from '@rustynet/plugin-api';
import { MAX_RTT_MS, RelaySelector, type RelaySelectionOptions } from '../src/client/relay-selection.js';

const OPTS: RelaySelectionOptions = { probeMisses: 3, healthyAfter: 2, switchMarginMs: 10, switchMarginRatio: 0.2, switchAfterRounds: 3 };

function relay(id: string, region?: string): NetmapRelay {
  return { id, endpoint: { host: '198.18.0.10', port: 3478 }, ...(region !== undefined && { region }) };
}

/** A selector with `ids` registered and made healthy with the given RTTs. */
function healthy(rtts: Record<string, number>, opts: RelaySelectionOptions = OPTS): RelaySelector {
  const s = new RelaySelector(
    Object.keys(rtts).map((id) => relay(id)),
    opts,
  );
  for (const [id, rtt] of Object.entries(rtts)) {
    s.registered(id);
    for (let i = 0; i < opts.healthyAfter; i++) s.answered(id, rtt);
  }
  return s;
}

describe('relay selection (home relay choice)', () => {
  it('chooses the healthy relay with the lowest RTT, whatever its netmap position', () => {
    const s = healthy({ far: 80, near: 5, mid: 30 });
    expect(s.evaluate()).to.deep.equal({ from: undefined, to: 'near', why: 'first' });
    expect(s.home).to.equal('near');
    expect(s.snapshot().map((h) => [h.id, h.home, h.healthy])).to.deep.equal([
      ['far', false, true],
      ['near', true, true],
      ['mid', false, true],
    ]);
  });

  it('takes the first registered relay as home before any is healthy, then moves to the nearest once they are', () => {
    const s = new RelaySelector([relay('r1'), relay('r2')], OPTS);
    s.registered('r1');
    expect(s.evaluate()).to.deep.equal({ from: undefined, to: 'r1', why: 'first' });
    s.registered('r2');
    s.answered('r1', 50);
    s.answered('r2', 5);
    expect(s.evaluate(), 'neither healthy yet: keep r1').to.equal(undefined);
    s.answered('r1', 50);
    s.answered('r2', 5);
    // r2 is nearer by far more than the margin, but only after switchAfterRounds rounds
    expect(s.evaluate()).to.equal(undefined);
    expect(s.evaluate()).to.equal(undefined);
    expect(s.evaluate()).to.deep.equal({ from: 'r1', to: 'r2', why: 'nearer' });
  });

  it('hysteresis: a relay nearer by less than the margin never takes over; the count restarts when it stops being nearer', () => {
    const t = healthy({ a: 40, b: 45 });
    expect(t.evaluate()?.to).to.equal('a');
    for (let i = 0; i < 10; i++) {
      t.answered('b', 33); // b's smoothed RTT creeps towards 33: never below 40 - max(10, 20 %)
      expect(t.evaluate(), `round ${i}`).to.equal(undefined);
    }
    // b jumps well ahead for two rounds, then falls back: no switch, the count starts again
    const u = healthy({ a: 40, b: 40 });
    expect(u.evaluate()?.to).to.equal('a');
    const fast = (): void => {
      for (let i = 0; i < 40; i++) u.answered('b', 1);
    };
    fast();
    expect(u.evaluate()).to.equal(undefined);
    expect(u.evaluate()).to.equal(undefined);
    for (let i = 0; i < 60; i++) u.answered('b', 45);
    expect(u.evaluate()).to.equal(undefined);
    fast();
    expect(u.evaluate()).to.equal(undefined);
    expect(u.evaluate()).to.equal(undefined);
    expect(u.evaluate()).to.deep.equal({ from: 'a', to: 'b', why: 'nearer' });
  });

  it('health: probeMisses silent rounds make the home unhealthy and it is replaced at once by the next healthy relay', () => {
    const s = healthy({ r1: 5, r2: 20, r3: 60 });
    expect(s.evaluate()?.to).to.equal('r1');
    expect(s.missed('r1')).to.equal(false);
    expect(s.missed('r1')).to.equal(false);
    expect(s.evaluate(), 'two misses: still home').to.equal(undefined);
    expect(s.missed('r1')).to.equal(true);
    expect(s.isHealthy('r1')).to.equal(false);
    expect(s.evaluate()).to.deep.equal({ from: 'r1', to: 'r2', why: 'home unhealthy' });
    // a lost session is not chosen either; with r2 lost, r3 takes over
    s.lost('r2');
    expect(s.evaluate()).to.deep.equal({ from: 'r2', to: 'r3', why: 'home lost' });
  });

  it('no flapping: a recovered relay needs healthyAfter answers and then the margin for switchAfterRounds rounds', () => {
    const s = healthy({ r1: 5, r2: 20 });
    s.evaluate();
    for (let i = 0; i < 3; i++) s.missed('r1');
    expect(s.evaluate()?.to).to.equal('r2');
    s.lost('r1');
    s.registered('r1');
    s.answered('r1', 5);
    expect(s.isHealthy('r1'), 'one answer is not enough').to.equal(false);
    expect(s.evaluate()).to.equal(undefined);
    s.answered('r1', 5);
    expect(s.isHealthy('r1')).to.equal(true);
    expect(s.evaluate()).to.equal(undefined);
    s.missed('r1'); // a miss resets the answered count, not the health (3 are needed)
    expect(s.isHealthy('r1')).to.equal(true);
    expect(s.evaluate()).to.equal(undefined);
    expect(s.evaluate()).to.deep.equal({ from: 'r2', to: 'r1', why: 'nearer' });
  });

  it('every relay failing: the home stays while registered, and is gone when lost', () => {
    const s = healthy({ r1: 5 });
    s.evaluate();
    for (let i = 0; i < 5; i++) s.missed('r1');
    expect(s.evaluate()).to.equal(undefined);
    expect(s.home).to.equal('r1');
    s.lost('r1');
    expect(s.evaluate()).to.deep.equal({ from: 'r1', to: undefined, why: 'home lost' });
    expect(s.home).to.equal(undefined);
  });

  it('hostile input: duplicate relay ids are INVALID_INPUT naming the field', () => {
    try {
      new RelaySelector([relay('r1', 'eu'), relay('r2', 'eu'), relay('r1', 'us')], OPTS);
      expect.fail('expected INVALID_INPUT');
    } catch (err) {
      expect(isRustynetError(err, 'INVALID_INPUT'), String(err)).to.equal(true);
      expect((err as { field?: string }).field).to.equal('relays[2].id');
    }
    // a shared region is fine: regions are labels, not keys
    expect(() => new RelaySelector([relay('r1', 'eu'), relay('r2', 'eu')], OPTS)).not.to.throw();
  });

  it('hostile input: bad options are INVALID_INPUT naming the option', () => {
    for (const [k, v] of [
      ['probeMisses', 0],
      ['healthyAfter', Number.NaN],
      ['switchMarginMs', -1],
      ['switchAfterRounds', Number.POSITIVE_INFINITY],
    ] as const) {
      try {
        new RelaySelector([relay('r1')], { ...OPTS, [k]: v });
        expect.fail(`expected INVALID_INPUT for ${k}`);
      } catch (err) {
        expect(isRustynetError(err, 'INVALID_INPUT'), String(err)).to.equal(true);
        expect((err as { field?: string }).field).to.equal(k);
      }
    }
  });

  it('hostile input: negative, NaN, infinite, huge RTT samples and samples for unknown relays change no RTT', () => {
    const s = healthy({ r1: 20, r2: 30 });
    s.evaluate();
    const before = s.snapshot();
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, MAX_RTT_MS + 1, '5' as unknown as number]) {
      s.answered('r2', bad);
    }
    s.answered('nope', 1);
    s.missed('nope');
    s.registered('nope');
    expect(s.refusedSamples).to.equal(7);
    expect(s.snapshot().map((h) => h.rttMs)).to.deep.equal(before.map((h) => h.rttMs));
    for (let i = 0; i < 5; i++) expect(s.evaluate()).to.equal(undefined);
    expect(s.home).to.equal('r1');
  });

  it('smooths RTT (one outlier does not move the home)', () => {
    const s = healthy({ r1: 20, r2: 30 });
    s.evaluate();
    s.answered('r1', 2000); // one slow answer: SRTT 20 + (2000-20)/8 ≈ 267
    const r1 = s.snapshot().find((h) => h.id === 'r1');
    expect(r1?.rttMs).to.be.within(260, 270);
    // r2 is nearer now, but only for one round: r1's next answers bring it back
    expect(s.evaluate()).to.equal(undefined);
    for (let i = 0; i < 30; i++) s.answered('r1', 20);
    for (let i = 0; i < 5; i++) expect(s.evaluate()).to.equal(undefined);
    expect(s.home).to.equal('r1');
  });
});
