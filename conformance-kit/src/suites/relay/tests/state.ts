import type { KitTest } from '../../define.js';
import type { ClientNode, RelayFixture } from '../fixture.js';
import { LOOPBACK_BACKEND, needServer } from './helpers.js';

type T = KitTest<RelayFixture>;

let spareClient: Promise<ClientNode> | undefined;
let spareOwner: RelayFixture | undefined;

/** A client instance in host d for the state tests (reset to stopped). */
async function spare(fx: RelayFixture): Promise<ClientNode> {
  if (spareOwner !== fx) {
    spareOwner = fx;
    spareClient = fx.newClient('d', 'spare-d');
  }
  const c = await spareClient!;
  await fx.stop(c).catch(() => undefined);
  return c;
}

/** The `relay.state.*` tests, in run order. */
export const stateTests: T[] = [
  {
    id: 'relay.state.not-running-before-start',
    title: 'openPath fails with NOT_RUNNING before start; stop before start succeeds',
    async run(t, fx) {
      const c = await spare(fx);
      t.begin('openPath before start');
      await t.rejects('openPath before start', fx.openPath(c, 'a', LOOPBACK_BACKEND), 'NOT_RUNNING');
      t.begin('stop before start');
      await t.ok('stop() before start', fx.stop(c));
    },
  },
  {
    id: 'relay.state.already-running',
    title: 'a second start fails with ALREADY_RUNNING and the instance keeps working',
    skipIf: needServer,
    async run(t, fx) {
      const c = await spare(fx);
      t.begin('first start');
      await t.ok('start', fx.start(c, 'd'));
      t.begin('second start');
      await t.rejects('second start', fx.start(c, 'd'), 'ALREADY_RUNNING');
      t.begin('still running: openPath works');
      const ep = await t.ok('openPath after the refused start', fx.openPath(c, 'a', LOOPBACK_BACKEND));
      t.check(typeof ep?.host === 'string' && Number.isInteger(ep?.port), 'openPath must return an endpoint', '{host, port}', ep);
      t.begin('stop');
      await t.ok('stop', fx.stop(c));
    },
  },
  {
    id: 'relay.state.stop-idempotent',
    title: 'stop twice in a row succeeds both times',
    skipIf: needServer,
    async run(t, fx) {
      const c = await spare(fx);
      t.begin('start');
      await t.ok('start', fx.start(c, 'd'));
      t.begin('first stop');
      await t.ok('first stop', fx.stop(c));
      t.begin('second stop');
      await t.ok('second stop', fx.stop(c));
    },
  },
  {
    id: 'relay.state.not-running-after-stop',
    title: 'openPath fails with NOT_RUNNING after stop',
    skipIf: needServer,
    async run(t, fx) {
      const c = await spare(fx);
      t.begin('start, openPath, stop');
      await t.ok('start', fx.start(c, 'd'));
      await t.ok('openPath while running', fx.openPath(c, 'a', LOOPBACK_BACKEND));
      await t.ok('stop', fx.stop(c));
      t.begin('openPath after stop');
      await t.rejects('openPath after stop', fx.openPath(c, 'a', LOOPBACK_BACKEND), 'NOT_RUNNING');
    },
  },
];
