import type { KitTest } from '../../define.js';
import { LISTEN_PORT, type BackendFixture } from '../fixture.js';
import { expectPing, peerStat } from './helpers.js';

type T = KitTest<BackendFixture>;

export const endpointTests: T[] = [
  {
    id: 'backend.endpoints.roaming',
    title: 'updatePeerEndpoint moves a peer to a new endpoint while traffic flows (old path blocked)',
    gate: 'roaming',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.roaming ? undefined : 'the plugin does not claim the roaming capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const alt = '198.18.0.102';
      t.begin('give b a second underlay address');
      await b.host.exec('ip', ['addr', 'replace', `${alt}/24`, 'dev', 'eth0']);
      try {
        await expectPing(t, fx, a, b.ip4, 'before the move');
        t.begin(`updatePeerEndpoint(b, ${alt}:${LISTEN_PORT})`);
        await t.ok('updatePeerEndpoint', a.plugin.call('updatePeerEndpoint', ['b', { host: alt, port: LISTEN_PORT }]));
        t.begin("block a's old path to b");
        await a.host.blockPath(b.host);
        await expectPing(t, fx, a, b.ip4, 'old path blocked, new endpoint in use');
        t.begin('stats() reports the new endpoint');
        const st = await t.ok('stats', fx.stats(a));
        t.equal(peerStat(st, 'b')?.endpoint ?? null, { host: alt, port: LISTEN_PORT }, "b's endpoint in a's stats()");
        t.begin('c is untouched');
        await expectPing(t, fx, a, fx.nodes.c.ip4, 'other peers keep their endpoint');
      } finally {
        await a.host.unblockPath(b.host);
        await b.host.exec('ip', ['addr', 'del', `${alt}/24`, 'dev', 'eth0'], { reject: false });
        fx.dirty = true; // a's endpoint for b changed
      }
    },
  },
  {
    id: 'backend.endpoints.unsupported-without-roaming',
    title: 'without the roaming capability, updatePeerEndpoint fails with UNSUPPORTED and changes nothing',
    gate: '!roaming',
    skipIf: (fx) => (fx.caps.roaming ? 'the plugin claims roaming (backend.endpoints.roaming applies instead)' : undefined),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      t.begin('updatePeerEndpoint');
      await t.rejects(
        'updatePeerEndpoint',
        a.plugin.call('updatePeerEndpoint', ['b', { host: '198.18.0.102', port: LISTEN_PORT }]),
        'UNSUPPORTED',
      );
      await expectPing(t, fx, a, b.ip4, 'unchanged');
    },
  },
];
