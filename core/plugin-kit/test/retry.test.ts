import { expect } from 'chai';
import { RustynetError, isRustynetError } from '@rustynet/plugin-api';
import { isRetryable, retry } from '../src/index.js';

const fast = { minDelayMs: 1, maxDelayMs: 2 };

describe('plugin-kit: retry', () => {
  it('retries until an attempt succeeds', async () => {
    const seen: number[] = [];
    const failures: number[] = [];
    const out = await retry(
      async (n) => {
        seen.push(n);
        if (n < 3) throw new Error(`fail ${n}`);
        return 'ok';
      },
      { ...fast, onFailedAttempt: (_e, n) => failures.push(n) },
    );
    expect(out).to.equal('ok');
    expect(seen).to.deep.equal([1, 2, 3]);
    expect(failures).to.deep.equal([1, 2]);
  });

  it('gives up after `retries` and throws the last error unchanged', async () => {
    let n = 0;
    const err = await retry(
      async () => {
        n++;
        throw new RustynetError('RELAY_FAILED', `attempt ${n}`);
      },
      { ...fast, retries: 2 },
    ).catch((e: unknown) => e);
    expect(n).to.equal(3);
    expect(isRustynetError(err, 'RELAY_FAILED') && err.message).to.equal('attempt 3');
    expect(Object.keys(err as object)).to.not.include('attemptNumber');
  });

  it('does not retry final errors, and passes non-Error throws through', async () => {
    let n = 0;
    const err = await retry(async () => {
      n++;
      throw new RustynetError('INVALID_INPUT', 'bad');
    }, fast).catch((e: unknown) => e);
    expect(n).to.equal(1);
    expect(isRustynetError(err, 'INVALID_INPUT')).to.equal(true);
    expect(isRetryable(new Error('x'))).to.equal(true);
    const thrown = await retry(
      async () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- checks that retry passes a non-Error rejection through unchanged
        throw 'text';
      },
      { ...fast, retries: 1 },
    ).catch((e: unknown) => e);
    expect(thrown).to.equal('text');
  });

  it('stops with ABORTED or TIMEOUT when the signal fires', async () => {
    const pre = await retry(async () => 1, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(isRustynetError(pre, 'ABORTED')).to.equal(true);
    const ac = new AbortController();
    const err = await retry(
      async (n) => {
        if (n === 2) ac.abort(new DOMException('late', 'TimeoutError'));
        throw new Error('down');
      },
      { ...fast, retries: 10, signal: ac.signal },
    ).catch((e: unknown) => e);
    expect(isRustynetError(err, 'TIMEOUT')).to.equal(true);
  });
});
