import { Ajv } from 'ajv';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import type { BackendFixture } from '../fixture.js';

type T = KitTest<BackendFixture>;

/** A key the manifest's peerKeySchema rejects. */
function invalidKey(fx: BackendFixture): string | undefined {
  const v = new Ajv({ strict: false }).compile(fx.manifest.backend?.peerKeySchema ?? {});
  return ['not a key!', '', '====', 'A'.repeat(3), `${fx.nodes.b.publicKey}x`, 'x'.repeat(4096)].find((k) => !v(k));
}

/** Asserts a's state is the baseline: peers b and c, both reachable. */
async function expectUnchanged(t: StepContext, fx: BackendFixture): Promise<void> {
  const { a, b, c } = fx.nodes;
  t.begin('state unchanged: stats() lists b and c');
  const st = await t.ok('stats', fx.stats(a));
  t.equal(st.peers.map((p) => p.id).sort(), ['b', 'c'], 'peers of a after the refused call');
  t.begin('state unchanged: traffic still flows');
  const [pb, pc] = await Promise.all([fx.ping(a, b.ip4), fx.ping(a, c.ip4)]);
  t.check(pb && pc, 'traffic stopped after a refused call', 'b and c reachable', { b: pb, c: pc });
}

export const badInputTests: T[] = [
  {
    id: 'backend.bad-input.invalid-key',
    title: 'a peer key that fails peerKeySchema -> INVALID_INPUT naming upsert[i].publicKey; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, d } = fx.nodes;
      const key = t.need(
        invalidKey(fx),
        'peerKeySchema accepts every probe string: cannot test key validation',
        'a peerKeySchema that rejects malformed keys',
        fx.manifest.backend?.peerKeySchema,
      );
      t.begin('applyPeers([valid new peer d, b with a malformed key])');
      await t.rejects(
        'applyPeers',
        fx.applyPeers(a, { upsert: [fx.peerOf(d), { ...fx.peerOf(fx.nodes.b), publicKey: key }] }),
        'INVALID_INPUT',
        /^upsert\[1\]\.publicKey$/,
      );
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.bad-cidr',
    title: 'malformed allowed IPs (host bits set, /33, garbage) -> INVALID_INPUT naming the field; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, d } = fx.nodes;
      for (const bad of ['100.64.0.300/32', '100.64.0.2/33', '100.64.0.0/8', 'not-a-cidr']) {
        t.begin(`applyPeers with allowed IP ${bad}`);
        await t.rejects(
          `applyPeers(allowedIps ${bad})`,
          fx.applyPeers(a, { upsert: [fx.peerOf(d), { ...fx.peerOf(b), allowedIps: [`${b.ip4}/32`, bad] }] }),
          'INVALID_INPUT',
          /^upsert\[1\]\.allowedIps\[1\]$/,
        );
      }
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.unknown-peer',
    title: 'removing, re-pointing or routing via an unknown peer -> UNKNOWN_PEER; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, d } = fx.nodes;
      t.begin('applyPeers remove [nobody]');
      await t.rejects('applyPeers(remove unknown)', fx.applyPeers(a, { upsert: [fx.peerOf(d)], remove: ['nobody'] }), 'UNKNOWN_PEER');
      t.begin('updatePeerEndpoint(nobody)');
      await t.rejects(
        'updatePeerEndpoint(unknown)',
        a.plugin.call('updatePeerEndpoint', ['nobody', { host: '198.18.0.50', port: 51820 }]),
        fx.caps.roaming ? 'UNKNOWN_PEER' : ['UNKNOWN_PEER', 'UNSUPPORTED'],
      );
      t.begin('applyRoutes via nobody');
      await t.rejects(
        'applyRoutes(via unknown)',
        fx.applyRoutes(a, { add: [{ destination: '100.64.9.0/24', peer: 'nobody' }] }),
        fx.caps.lanRoutes ? 'UNKNOWN_PEER' : ['UNKNOWN_PEER', 'UNSUPPORTED'],
      );
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.duplicate-peer',
    title: 'the same peer id twice in one batch -> DUPLICATE_PEER; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, d } = fx.nodes;
      t.begin('applyPeers upsert [d, b, b]');
      await t.rejects(
        'applyPeers(duplicate)',
        fx.applyPeers(a, { upsert: [fx.peerOf(d), fx.peerOf(b), { ...fx.peerOf(b), allowedIps: ['100.64.77.0/24'] }] }),
        'DUPLICATE_PEER',
      );
      t.begin('applyPeers with b in upsert and remove');
      await t.rejects('applyPeers(upsert and remove b)', fx.applyPeers(a, { upsert: [fx.peerOf(b)], remove: ['b'] }), [
        'DUPLICATE_PEER',
        'INVALID_INPUT',
      ]);
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.bad-endpoint',
    title: 'an endpoint with a port outside 1..65535 or a host name -> INVALID_INPUT naming the field; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, d } = fx.nodes;
      const cases: [string, unknown][] = [
        ['port 0', { host: '198.18.0.2', port: 0 }],
        ['port 70000', { host: '198.18.0.2', port: 70000 }],
        ['host name', { host: 'example.invalid', port: 51820 }],
      ];
      for (const [what, endpoint] of cases) {
        t.begin(`applyPeers with endpoint ${what}`);
        await t.rejects(
          `applyPeers(endpoint ${what})`,
          fx.applyPeers(a, { upsert: [fx.peerOf(d), { ...fx.peerOf(b), endpoint } as never] }),
          'INVALID_INPUT',
          /^upsert\[1\]\.endpoint/,
        );
      }
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.ipv6-unsupported',
    title: 'without the ipv6 capability, an IPv6 allowed IP -> UNSUPPORTED (or INVALID_INPUT); nothing changes',
    gate: '!ipv6',
    skipIf: (fx) => (fx.caps.ipv6 ? 'the plugin claims ipv6 (IPv6 is exercised in backend.peers.ping-two-peers)' : undefined),
    async run(t, fx) {
      await fx.mesh();
      const { a, b, d } = fx.nodes;
      t.begin('applyPeers with allowed IP fd00:7e57::2/128');
      await t.rejects(
        'applyPeers(IPv6 allowed IP)',
        fx.applyPeers(a, { upsert: [fx.peerOf(d), { ...fx.peerOf(b), allowedIps: [`${b.ip4}/32`, 'fd00:7e57::2/128'] }] }),
        ['UNSUPPORTED', 'INVALID_INPUT'],
      );
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.partial-batch',
    title: 'a batch whose last upsert is invalid changes nothing: its removal and its valid upserts are not applied',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, d } = fx.nodes;
      t.begin('applyPeers({ upsert: [d, b with a bad allowed IP], remove: [c] })');
      await t.rejects(
        'applyPeers(remove c, upsert d, bad b)',
        fx.applyPeers(a, { upsert: [fx.peerOf(d), { ...fx.peerOf(b), allowedIps: [`${b.ip4}/32`, '100.64.0.0/8'] }], remove: ['c'] }),
        'INVALID_INPUT',
        /^upsert\[1\]\.allowedIps\[1\]$/,
      );
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.conflicting-peers',
    title: 'a public key under two ids, or an allowed IP on two peers -> INVALID_INPUT naming the field; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c, d } = fx.nodes;
      const cases: [string, unknown[], RegExp][] = [
        ["b's key under id x", [{ ...fx.peerOf(d), id: 'x', publicKey: b.publicKey }], /^upsert\[0\]\.publicKey$/],
        [
          'one new key under ids x and y',
          [fx.peerOf(d), { ...fx.peerOf(d), id: 'y', allowedIps: ['100.64.0.99/32'] }],
          /^upsert\[1\]\.publicKey$/,
        ],
        [
          `c's allowed IP ${c.ip4}/32 on d`,
          [{ ...fx.peerOf(d), allowedIps: [`${d.ip4}/32`, `${c.ip4}/32`] }],
          /^upsert\[0\]\.allowedIps(\[1\])?$/,
        ],
      ];
      for (const [what, upsert, field] of cases) {
        t.begin(`applyPeers with ${what}`);
        await t.rejects(
          `applyPeers(${what})`,
          a.plugin.call('applyPeers', [{ upsert, remove: [] }], fx.ms(30_000)),
          'INVALID_INPUT',
          field,
        );
      }
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.endpoint-update',
    title:
      'updatePeerEndpoint validates like applyPeers (host name, port 0 or 65536, IPv6 without ipv6) and fails at once; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const cases: [string, unknown, string[]][] = [
        ['host name', { host: 'example.invalid', port: 51820 }, ['INVALID_INPUT']],
        ['port 0', { host: '198.18.0.2', port: 0 }, ['INVALID_INPUT']],
        ['port 65536', { host: '198.18.0.2', port: 65536 }, ['INVALID_INPUT']],
        ...(fx.caps.ipv6
          ? []
          : [
              ['IPv6 endpoint without ipv6', { host: '2001:db8::2', port: 51820 }, ['UNSUPPORTED', 'INVALID_INPUT']] as [
                string,
                unknown,
                string[],
              ],
            ]),
      ];
      for (const [what, endpoint, codes] of cases) {
        t.begin(`updatePeerEndpoint(b, ${what}) fails within 2 s`);
        const call = a.plugin.call('updatePeerEndpoint', ['b', endpoint], fx.ms(30_000));
        const slow = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still pending after 2 s')), fx.ms(2000)).unref());
        await t.rejects(`updatePeerEndpoint(${what})`, Promise.race([call, slow]), fx.caps.roaming ? codes : [...codes, 'UNSUPPORTED']);
        await call.catch(() => undefined);
      }
      t.begin("b's endpoint is unchanged");
      const st = await t.ok('stats', fx.stats(a));
      t.equal(st.peers.find((p) => p.id === 'b')?.endpoint ?? null, fx.peerOf(b).endpoint, "b's endpoint after the refused updates");
      await expectUnchanged(t, fx);
    },
  },
  {
    id: 'backend.bad-input.hostile-strings',
    title:
      'config and command injection: a newline, quote or extra word in a peer id, endpoint host, allowed IP, key, route or interface name -> INVALID_INPUT naming the field; nothing changes',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, d } = fx.nodes;
      const peer = fx.peerOf(b);
      const host = peer.endpoint?.host ?? '198.18.0.2';
      const peerCases: [string, Record<string, unknown>, RegExp][] = [
        ['an id with a newline', { id: 'x\nremote 198.18.0.9' }, /^upsert\[1\]\.id$/],
        ['an id with quotes and a shell command', { id: "x'; touch /tmp/rn-kit-injected; '" }, /^upsert\[1\]\.id$/],
        [
          'an endpoint host with a newline and a directive',
          { endpoint: { host: `${host}\nremote 198.18.0.9`, port: 51820 } },
          /^upsert\[1\]\.endpoint/,
        ],
        ['an endpoint host with an extra word', { endpoint: { host: `${host} port 9`, port: 51820 } }, /^upsert\[1\]\.endpoint/],
        [
          'an allowed IP with a newline and a directive',
          { allowedIps: [`${fx.nodes.b.ip4}/32\nup "sh -c id"`] },
          /^upsert\[1\]\.allowedIps(\[0\])?$/,
        ],
        ['a public key with a newline and more', { publicKey: `${peer.publicKey}\nx` }, /^upsert\[1\]\.publicKey$/],
      ];
      for (const [what, over, field] of peerCases) {
        t.begin(`applyPeers([d, b with ${what}])`);
        await t.rejects(`applyPeers(${what})`, fx.applyPeers(a, { upsert: [fx.peerOf(d), { ...peer, ...over }] }), 'INVALID_INPUT', field);
      }
      t.begin('applyRoutes with a destination carrying a newline and a directive');
      await t.rejects(
        'applyRoutes(hostile destination)',
        fx.applyRoutes(a, { add: [{ destination: '10.99.0.0/24\nroute del default', peer: 'b' }] }),
        'INVALID_INPUT',
        /^add\[0\]\.destination$/,
      );
      t.begin('start on d with an interface name carrying a newline');
      await fx.stop(d).catch(() => undefined);
      await t.rejects(
        'start(hostile interfaceName)',
        d.plugin.call('start', [fx.startConfig(d, { interfaceName: 'rn\nlink' })], fx.ms(30_000)),
        'INVALID_INPUT',
        /(^|\.)interfaceName$/,
      );
      await expectUnchanged(t, fx);
    },
  },
];
