import { expect } from 'chai';
import Mocha from 'mocha';
import { registerTests, type FixtureBase, type KitTest } from '../src/suites/define.js';
import { ConformanceFailure, ConformanceTimeoutError } from '../src/suites/errors.js';

type Fn = (this: Mocha.Context) => Promise<void>;

/** A fixture that needs nothing and records residue calls. */
class FakeFixture implements FixtureBase {
  dirty = false;
  residueCalls: boolean[] = [];
  left: Record<string, Record<string, string[]>> = {};
  ready(): Promise<void> {
    return Promise.resolve();
  }
  ms(base: number): number {
    return base;
  }
  diagnostics(): Promise<string> {
    return Promise.resolve('');
  }
  afterTest(passed: boolean): Promise<Record<string, Record<string, string[]>>> {
    this.residueCalls.push(passed);
    return Promise.resolve(passed ? this.left : {});
  }
}

/** Registers `spec` with a capturing `it` and runs it as mocha would. */
async function runOne(spec: KitTest<FakeFixture>, fx: FakeFixture): Promise<unknown> {
  let test: Mocha.Test | undefined;
  let fn: Fn | undefined;
  registerTests([spec], fx, (title, f) => {
    fn = f;
    test = new Mocha.Test(title, f);
    return test;
  });
  const ctx = new Mocha.Context();
  if (test) ctx.runnable(test);
  try {
    await fn?.call(ctx);
    return undefined;
  } catch (e) {
    return e;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('registerTests: fair deadlines and residue (unit)', () => {
  it('the kit preparation runs outside the deadline', async () => {
    const fx = new FakeFixture();
    const err = await runOne(
      {
        id: 'backend.x.prepared',
        title: 't',
        deadlineMs: 100,
        prepare: () => sleep(250),
        run: async (t) => {
          t.begin('quick step');
          await sleep(10);
        },
      },
      fx,
    );
    expect(err).to.equal(undefined);
  });

  it('a timeout names the step and lists every step duration so far', async () => {
    const fx = new FakeFixture();
    const err = await runOne(
      {
        id: 'backend.x.slow',
        title: 't',
        deadlineMs: 150,
        run: async (t) => {
          t.begin('first');
          await sleep(30);
          t.begin('stuck here');
          await sleep(1000);
        },
      },
      fx,
    );
    expect(err).to.be.instanceOf(ConformanceTimeoutError);
    const m = (err as Error).message;
    expect(m).to.include('stuck at step "stuck here"');
    expect(m)
      .to.match(/\d+ ms\s+first/)
      .and.match(/\d+ ms\s+stuck here/);
    expect(fx.residueCalls).to.deep.equal([false]);
  });

  it('sessionWaits add the declared bound to the deadline, and settle runs outside it; undeclared, nothing is added', async () => {
    class Declaring extends FakeFixture {
      settled = 0;
      sessionWaitMs(): number {
        return 300;
      }
      async settle(): Promise<boolean> {
        this.settled++;
        await sleep(200);
        return true;
      }
    }
    const slow = (waits: number): KitTest<FakeFixture> => ({
      id: 'backend.x.session',
      title: 't',
      deadlineMs: 150,
      sessionWaits: waits,
      run: () => sleep(350),
    });
    const fx = new Declaring();
    expect(await runOne(slow(1), fx), '150 + 300 ms').to.equal(undefined);
    expect(fx.settled).to.equal(1);
    expect(await runOne(slow(0), new Declaring()), 'no session wait: 150 ms').to.be.instanceOf(ConformanceTimeoutError);
    expect(await runOne(slow(1), new FakeFixture()), 'nothing declared: 150 ms').to.be.instanceOf(ConformanceTimeoutError);
  });

  it('a passed test fails when it left residue behind', async () => {
    const fx = new FakeFixture();
    fx.left = { d: { links: ['rnx'] } };
    const err = await runOne({ id: 'backend.x.leaves', title: 't', run: () => Promise.resolve() }, fx);
    expect(err).to.be.instanceOf(ConformanceFailure);
    expect((err as ConformanceFailure).step).to.match(/^residue/);
    expect((err as ConformanceFailure).actual).to.deep.equal({ d: { links: ['rnx'] } });
  });
});
