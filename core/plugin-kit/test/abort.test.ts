import { expect } from 'chai';
import { RustynetError, isRustynetError, type Clock } from '@rustynet/plugin-api';
import { CallScope, abortError, isAbortError, mapAbortError, throwIfAborted } from '../src/index.js';

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(public t = 1_000_000) {}
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw abortError(signal.reason);
    this.t += ms;
  }
}

describe('plugin-kit: abort mapping and CallScope', () => {
  it('maps abort reasons to ABORTED or TIMEOUT', () => {
    expect(abortError(new Error('x')).code).to.equal('ABORTED');
    expect(abortError(new DOMException('t', 'TimeoutError')).code).to.equal('TIMEOUT');
    const already = new RustynetError('TIMEOUT', 'x');
    expect(abortError(already)).to.equal(already);
    expect(() => throwIfAborted(AbortSignal.abort()))
      .to.throw(RustynetError)
      .with.property('code', 'ABORTED');
    expect(() => throwIfAborted(undefined)).to.not.throw();
    expect(isAbortError(new RustynetError('ABORTED', 'x'))).to.equal(true);
    expect(isAbortError(new RustynetError('BACKEND_FAILED', 'x'))).to.equal(false);
  });

  it('maps DOM AbortError/TimeoutError escaping from libraries', () => {
    const e = new Error('aborted');
    e.name = 'AbortError';
    expect(isRustynetError(mapAbortError(e), 'ABORTED')).to.equal(true);
    expect(isRustynetError(mapAbortError(new DOMException('t', 'TimeoutError')), 'TIMEOUT')).to.equal(true);
    const other = new Error('other');
    expect(mapAbortError(other)).to.equal(other);
  });

  it('CallScope checks signal and deadline on the plugin clock', async () => {
    const clock = new ManualClock();
    const scope = new CallScope(clock, { timeoutMs: 100 });
    expect(scope.remaining()).to.equal(100);
    expect(scope.runOptions({ input: 'x' })).to.deep.equal({ input: 'x', timeoutMs: 100 });
    await scope.sleep(40);
    expect(scope.remaining()).to.equal(60);
    await scope.sleep(500).then(
      () => expect.fail('sleep past the deadline must throw'),
      (err: unknown) => expect(isRustynetError(err, 'TIMEOUT')).to.equal(true),
    );
    const ac = new AbortController();
    const s2 = new CallScope(clock, { signal: ac.signal });
    expect(s2.remaining()).to.equal(30_000);
    expect(s2.runOptions().signal).to.equal(ac.signal);
    ac.abort();
    expect(() => s2.check())
      .to.throw(RustynetError)
      .with.property('code', 'ABORTED');
    expect(s2.toSignal().aborted).to.equal(true);
  });
});
