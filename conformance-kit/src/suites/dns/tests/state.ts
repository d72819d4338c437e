import type { KitTest } from '../../define.js';
import type { DnsFixture } from '../fixture.js';
import { cListen, expectCAnswers } from './helpers.js';

type T = KitTest<DnsFixture>;

/** The `dns.state.*` tests, in run order. */
export const stateTests: T[] = [
  {
    id: 'dns.state.not-running-before-start',
    title: 'update fails with NOT_RUNNING before start; stop before start succeeds',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      t.begin('update before start');
      await t.rejects('update before start', fresh.call('update', [fx.zoneV1()]), 'NOT_RUNNING');
      t.begin('stop before start is a no-op');
      await t.ok('stop() before start', fresh.call('stop'));
      await fresh.close();
    },
  },
  {
    id: 'dns.state.already-running',
    title: 'a second start fails with ALREADY_RUNNING and the instance keeps answering',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      t.begin('start and update');
      await t.ok('start', fx.start(fresh, cListen(fx)));
      await t.ok('update', fx.update(fresh, fx.zoneV1()));
      t.begin('second start');
      await t.rejects('second start', fresh.call('start', [cListen(fx)]), 'ALREADY_RUNNING');
      await expectCAnswers(t, fx, 'after the refused start');
      await t.ok('stop', fx.stop(fresh));
      await fresh.close();
    },
  },
  {
    id: 'dns.state.stop-idempotent',
    title: 'stop twice in a row succeeds both times',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      await t.ok('start', fx.start(fresh, cListen(fx)));
      t.begin('first stop');
      await t.ok('first stop', fx.stop(fresh));
      t.begin('second stop');
      await t.ok('second stop', fx.stop(fresh));
      await fresh.close();
    },
  },
  {
    id: 'dns.state.not-running-after-stop',
    title: 'update fails with NOT_RUNNING after stop',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      await t.ok('start', fx.start(fresh, cListen(fx)));
      await t.ok('stop', fx.stop(fresh));
      t.begin('update after stop');
      await t.rejects('update after stop', fresh.call('update', [fx.zoneV1()]), 'NOT_RUNNING');
      await fresh.close();
    },
  },
  {
    id: 'dns.state.restart',
    title: 'start after stop on the same endpoint works: the restarted instance answers again',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      t.begin('start, update, stop');
      await t.ok('start', fx.start(fresh, cListen(fx)));
      await t.ok('update', fx.update(fresh, fx.zoneV1()));
      await t.ok('stop', fx.stop(fresh));
      t.begin('start again on the same endpoint');
      await t.ok('start after stop', fx.start(fresh, cListen(fx)));
      await t.ok('update', fx.update(fresh, fx.zoneV1()));
      await expectCAnswers(t, fx, 'after the restart');
      await t.ok('stop', fx.stop(fresh));
      await fresh.close();
    },
  },
];
