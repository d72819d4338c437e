import type { KitTest } from '../../define.js';
import { RELAY_ID, SPARE_RELAY_PORT, type RelayFixture } from '../fixture.js';
import { LOOPBACK_BACKEND, needServer, waitFor } from './helpers.js';

type T = KitTest<RelayFixture>;

/** The `relay.teardown.*` tests, in run order. */
export const teardownTests: T[] = [
  {
    id: 'relay.teardown.no-sockets',
    title: 'after stop, the client leaves no UDP socket in its namespace (ss -uanp equals the snapshot before start)',
    skipIf: needServer,
    async run(t, fx) {
      const d = fx.net.host('d');
      const c = await fx.newClient('d', 'teardown-d');
      t.begin('snapshot of UDP sockets in d before start');
      const before = await fx.udpSockets(d);
      t.begin('start, open two paths, carry a datagram, close one path, stop');
      await t.ok('start', fx.start(c, 'd'));
      await t.ok('openPath(a)', fx.openPath(c, 'a', LOOPBACK_BACKEND));
      await t.ok('openPath(b)', fx.openPath(c, 'b', LOOPBACK_BACKEND));
      const during = await fx.udpSockets(d);
      await t.ok('closePath(a)', c.plugin.call('closePath', ['a']));
      await t.ok('stop', fx.stop(c));
      t.begin('UDP sockets in d after stop');
      const after = await waitFor(
        () => fx.udpSockets(d),
        (l) => l.every((x) => before.includes(x)),
        fx.ms(2000),
        200,
      );
      const leaked = after.filter((l) => !before.includes(l));
      t.check(
        leaked.length === 0,
        'the client left UDP sockets open after stop',
        `no sockets beyond the ${before.length} before start (${during.length - before.length} were open while running)`,
        leaked,
      );
      await c.plugin.close();
    },
  },
  {
    id: 'relay.teardown.server-no-sockets',
    title: "the server's stop() closes its socket (ss -uanp in the relay namespace) and is idempotent",
    skipIf: needServer,
    async run(t, fx) {
      const relay = fx.net.host('relay');
      t.begin(`start a server on port ${SPARE_RELAY_PORT}`);
      await t.ok(
        'createRelayServer(...).start()',
        fx.agents.relay.serverCreate('spare', fx.pkg.module, fx.serverOptions(`${RELAY_ID}-spare`, SPARE_RELAY_PORT, ['a'], {})),
      );
      const on = (l: string[]): string[] => l.filter((x) => x.includes(`:${SPARE_RELAY_PORT} `));
      const during = on(await fx.udpSockets(relay));
      t.check(during.length >= 1, 'no UDP socket on the server port while it runs', `a socket on :${SPARE_RELAY_PORT}`, during);
      t.begin('stop twice');
      await t.ok('stop()', fx.agents.relay.serverStop('spare'));
      await t.ok('second stop()', fx.agents.relay.serverStop('spare'));
      const after = on(
        await waitFor(
          () => fx.udpSockets(relay),
          (l) => on(l).length === 0,
          fx.ms(2000),
          200,
        ),
      );
      t.check(after.length === 0, 'the server left its UDP socket open after stop', `no socket on :${SPARE_RELAY_PORT}`, after);
    },
  },
];
