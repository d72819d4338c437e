import { expect } from 'chai';
import { RustynetError } from '@rustynet/plugin-api';
import { ConformanceFailure, ConformanceTimeoutError } from '../src/suites/errors.js';
import { StepContext } from '../src/suites/step-context.js';

async function failure(p: Promise<unknown>): Promise<ConformanceFailure> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(ConformanceFailure);
    return e as ConformanceFailure;
  }
  throw new Error('did not fail');
}

describe('StepContext (unit)', () => {
  it('rejects(): passes on the expected code and field', async () => {
    const t = new StepContext('x.y.z');
    const s = await t.rejects(
      'op',
      Promise.reject(new RustynetError('INVALID_INPUT', 'bad', { field: 'upsert[1].publicKey' })),
      'INVALID_INPUT',
      /^upsert\[1\]\.publicKey$/,
    );
    expect(s.code).to.equal('INVALID_INPUT');
  });

  it('rejects(): fails with expected vs actual when the call succeeds', async () => {
    const t = new StepContext('x.y.z');
    t.begin('the step');
    const f = await failure(t.rejects('op', Promise.resolve(5), 'NOT_RUNNING'));
    expect(f.step).to.equal('the step');
    expect(f.expected).to.match(/NOT_RUNNING/);
    expect(f.actual).to.deep.equal({ resolved: 5 });
  });

  it('rejects(): fails on a wrong code or a wrong field', async () => {
    const t = new StepContext('x.y.z');
    const f1 = await failure(t.rejects('op', Promise.reject(new RustynetError('BACKEND_FAILED', 'boom')), 'UNKNOWN_PEER'));
    expect(f1.actual).to.include({ code: 'BACKEND_FAILED' });
    const f2 = await failure(
      t.rejects('op', Promise.reject(new RustynetError('INVALID_INPUT', 'x', { field: 'a' })), 'INVALID_INPUT', 'b'),
    );
    expect(f2.message).to.match(/wrong field/);
  });

  it('rejects(): accepts one of several codes', async () => {
    const t = new StepContext('x.y.z');
    await t.rejects('op', Promise.reject(new RustynetError('UNSUPPORTED', 'no')), ['UNKNOWN_PEER', 'UNSUPPORTED']);
  });

  it('equal() ignores key order, need() narrows', async () => {
    const t = new StepContext('x.y.z');
    t.equal({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, 'same');
    expect(() => t.equal([1, 2], [2, 1], 'order matters in arrays')).to.throw(ConformanceFailure);
    expect(t.need(0, 'zero is a value')).to.equal(0);
    expect(() => t.need(undefined, 'missing')).to.throw(ConformanceFailure, 'missing');
  });

  it('ok() turns a rejection into a failure naming the error code', async () => {
    const t = new StepContext('x.y.z');
    const f = await failure(t.ok('stats', Promise.reject(new RustynetError('NOT_RUNNING', 'stopped'))));
    expect(f.message).to.equal('stats failed: NOT_RUNNING: stopped');
  });

  it('ConformanceTimeoutError is a named failure with the step', () => {
    const e = new ConformanceTimeoutError('backend.a.b', 1000, 'ping');
    expect(e.name).to.equal('ConformanceTimeoutError');
    expect(e.message).to.include('1000 ms').and.include('ping');
    expect(e.step).to.equal('ping');
  });

  it('timings() gives every step its duration; the running step counts up to now', () => {
    let now = 1000;
    const t = new StepContext('x.y.z', () => now);
    t.begin('one');
    now += 50;
    t.begin('two');
    now += 7;
    expect(t.timings()).to.deep.equal([
      { step: 'one', ms: 50 },
      { step: 'two', ms: 7 },
    ]);
  });

  it('ConformanceTimeoutError lists every step duration so far', () => {
    const e = new ConformanceTimeoutError('backend.a.b', 1000, 'ping', [
      { step: 'start', ms: 120 },
      { step: 'ping', ms: 880 },
    ]);
    expect(e.message).to.match(/stuck at step "ping"/);
    expect(e.message)
      .to.match(/120 ms\s+start/)
      .and.match(/880 ms\s+ping/);
    expect(e.actual).to.deep.equal({
      stillRunning: 'ping',
      steps: [
        { step: 'start', ms: 120 },
        { step: 'ping', ms: 880 },
      ],
    });
  });
});
