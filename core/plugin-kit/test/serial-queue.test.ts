import { expect } from 'chai';
import { setImmediate } from 'node:timers';
import { SerialQueue } from '../src/index.js';

describe('plugin-kit: SerialQueue', () => {
  it('runs tasks one at a time in call order, past failures', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const a = q.run(async () => {
      log.push('a start');
      await gate;
      log.push('a end');
      return 'a';
    });
    const b = q.run(() => {
      log.push('b');
      throw new Error('b failed');
    });
    const c = q.run(async () => {
      log.push('c');
      return 'c';
    });
    expect(q.size).to.equal(3);
    await new Promise((r) => setImmediate(r));
    expect(log).to.deep.equal(['a start']);
    release();
    expect(await a).to.equal('a');
    await b.then(
      () => expect.fail('b should reject'),
      (err: unknown) => expect((err as Error).message).to.equal('b failed'),
    );
    expect(await c).to.equal('c');
    expect(log).to.deep.equal(['a start', 'a end', 'b', 'c']);
    await q.idle();
    expect(q.size).to.equal(0);
  });
});
