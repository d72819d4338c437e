import { expect } from 'chai';
import type { PeerConfig } from '@rustynet/plugin-api';
import { cidrContains, hostBitsZero, parseCidr, parseIp } from '@rustynet/plugin-kit';
import { validatePeerBatch, validateRouteChange, validateStartConfig } from '../src/validate.js';
import { caught, randomPublicKey } from './support/keys.js';

const goodStart = { nodeId: 'a', interfaceName: 'rn0', addresses: ['100.64.0.1/32', 'fd7a::1/128'], listenPort: 51820, keyDirectory: '/k' };

describe('cidr (plugin-kit, as this backend uses it)', () => {
  it('parses IPv4 and IPv6 prefixes and rejects malformed ones', () => {
    expect(parseCidr('10.0.0.0/8')).to.include({ family: 4, address: 0x0a000000n, prefixLength: 8 });
    expect(parseCidr('fd7a:115c::/48')?.family).to.equal(6);
    expect(parseCidr('::/0')?.prefixLength).to.equal(0);
    expect(parseCidr('::ffff:1.2.3.4/128')?.address).to.equal(0xffff01020304n);
    for (const bad of [
      '10.0.0.0',
      '10.0.0.256/8',
      '10.0.0/8',
      '10.0.0.0/33',
      'fd00::/129',
      'fd00:::1/64',
      '1::2::3/128',
      'fe80::1%eth0/64',
      '[fd00::1]/128',
      '01.2.3.4/32',
      'fd00::/08',
      'x/1',
      '',
      '10.0.0.0/8/8',
      '1:2:3:4:5:6:7:8:9/128',
    ]) {
      expect(parseCidr(bad), bad).to.equal(undefined);
    }
    expect(parseIp('1:2:3:4:5:6:7:8')?.value).to.equal(0x00010002000300040005000600070008n);
  });
  it('checks host bits and containment', () => {
    expect(hostBitsZero(parseCidr('10.1.0.0/16')!)).to.equal(true);
    expect(hostBitsZero(parseCidr('10.1.0.1/16')!)).to.equal(false);
    expect(hostBitsZero(parseCidr('fd00::1/64')!)).to.equal(false);
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseCidr('10.2.3.4/32')!)).to.equal(true);
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseCidr('11.0.0.0/32')!)).to.equal(false);
    expect(cidrContains(parseCidr('::/0')!, parseCidr('10.0.0.0/8')!)).to.equal(false);
  });
});

describe('validateStartConfig', () => {
  it('accepts a good config and defaults the MTU to 1420', () => {
    expect(validateStartConfig(goodStart).mtu).to.equal(1420);
  });
  const cases: Array<[string, Record<string, unknown>]> = [
    ['interfaceName', { interfaceName: 'a-very-long-name-16' }],
    ['interfaceName', { interfaceName: 'bad name' }],
    ['interfaceName', { interfaceName: 'wg/0' }],
    ['interfaceName', { interfaceName: '' }],
    ['addresses', { addresses: [] }],
    ['addresses[1]', { addresses: ['100.64.0.1/32', '100.64.0.0/24'] }],
    ['addresses[0]', { addresses: ['100.64.0.1'] }],
    ['listenPort', { listenPort: 65536 }],
    ['listenPort', { listenPort: -1 }],
    ['listenPort', { listenPort: 1.5 }],
    ['mtu', { mtu: 1279 }],
    ['mtu', { mtu: 9001 }],
    ['nodeId', { nodeId: 'Bad_Id' }],
    ['keyDirectory', { keyDirectory: '' }],
  ];
  for (const [field, patch] of cases) {
    it(`rejects ${JSON.stringify(patch)} naming ${field}`, async () => {
      const err = await caught(() => validateStartConfig({ ...goodStart, ...patch }));
      expect(err.code).to.equal('INVALID_INPUT');
      expect(err.field).to.equal(field);
    });
  }
});

describe('validatePeerBatch', () => {
  const kb = randomPublicKey();
  const kc = randomPublicKey();
  const existing = new Map<string, PeerConfig>([['b', { id: 'b', publicKey: kb, allowedIps: ['100.64.0.2/32'] }]]);
  const peer = (over: Partial<PeerConfig> = {}): PeerConfig => ({
    id: 'c',
    publicKey: kc,
    allowedIps: ['100.64.0.3/32', 'fd7a::3/128'],
    ...over,
  });

  it('accepts IPv6 allowed IPs and endpoints, keepalive, and no endpoint', () => {
    const plan = validatePeerBatch(
      {
        upsert: [
          peer({ endpoint: { host: 'fd00::3', port: 51820 }, persistentKeepalive: 25 }),
          { id: 'd', publicKey: randomPublicKey(), allowedIps: ['::/0', '0.0.0.0/0'] },
        ],
        remove: ['b'],
      },
      existing,
    );
    expect(plan.upserts).to.have.length(2);
    expect(plan.removals.map((r) => r.id)).to.deep.equal(['b']);
  });
  it('reports the previous config of a replaced peer', () => {
    const plan = validatePeerBatch({ upsert: [{ id: 'b', publicKey: kc, allowedIps: ['100.64.0.2/32'] }], remove: [] }, existing);
    expect(plan.upserts[0].previous?.publicKey).to.equal(kb);
  });
  const bad: Array<[string, string, object]> = [
    ['INVALID_INPUT', 'upsert[0].publicKey', { upsert: [peer({ publicKey: 'not-a-key' })] }],
    ['INVALID_INPUT', 'upsert[0].publicKey', { upsert: [peer({ publicKey: kc.slice(0, 42) + 'B=' })] }],
    ['INVALID_INPUT', 'upsert[0].allowedIps[1]', { upsert: [peer({ allowedIps: ['100.64.0.3/32', '10.0.0.1/8'] })] }],
    ['INVALID_INPUT', 'upsert[0].allowedIps[0]', { upsert: [peer({ allowedIps: ['300.1.1.1/32'] })] }],
    ['INVALID_INPUT', 'upsert[0].allowedIps', { upsert: [peer({ allowedIps: [] })] }],
    ['INVALID_INPUT', 'upsert[0].endpoint.host', { upsert: [peer({ endpoint: { host: 'example.com', port: 1 } })] }],
    ['INVALID_INPUT', 'upsert[0].endpoint.port', { upsert: [peer({ endpoint: { host: '198.18.0.1', port: 0 } })] }],
    ['INVALID_INPUT', 'upsert[0].persistentKeepalive', { upsert: [peer({ persistentKeepalive: 70000 })] }],
    ['INVALID_INPUT', 'upsert[0].id', { upsert: [peer({ id: 'UPPER' })] }],
    ['INVALID_INPUT', 'upsert[0].publicKey', { upsert: [peer({ publicKey: kb })] }],
    ['INVALID_INPUT', 'upsert[0].allowedIps[0]', { upsert: [peer({ allowedIps: ['100.64.0.2/32'] })] }],
    ['INVALID_INPUT', 'upsert[0].publicKey', { upsert: [peer({ publicKey: 'OWN' })] }],
    ['DUPLICATE_PEER', 'upsert[1].id', { upsert: [peer(), peer()] }],
    ['DUPLICATE_PEER', 'remove[0]', { upsert: [peer({ id: 'b' })], remove: ['b'] }],
    ['UNKNOWN_PEER', 'remove[0]', { upsert: [], remove: ['zz'] }],
  ];
  bad.forEach(([code, field, batch], i) => {
    it(`rejects bad batch #${i} with ${code} at ${field}`, async () => {
      const own = randomPublicKey();
      const b = JSON.parse(JSON.stringify(batch).replace('"OWN"', JSON.stringify(own)));
      const err = await caught(() => validatePeerBatch({ upsert: [], remove: [], ...b }, existing, own));
      expect(err.code).to.equal(code);
      expect(err.field).to.equal(field);
    });
  });
  it('allows moving a prefix between peers in one batch', () => {
    const plan = validatePeerBatch(
      { upsert: [{ id: 'b', publicKey: kb, allowedIps: ['100.64.0.22/32'] }, peer({ allowedIps: ['100.64.0.2/32'] })], remove: [] },
      existing,
    );
    expect(plan.upserts).to.have.length(2);
  });
});

describe('validateRouteChange', () => {
  const peers = new Map<string, PeerConfig>([['b', { id: 'b', publicKey: randomPublicKey(), allowedIps: ['10.0.0.0/8'] }]]);
  it('accepts routes via known peers, and removals via any peer', () => {
    const v = validateRouteChange(
      {
        add: [
          { destination: '10.1.0.0/16', peer: 'b' },
          { destination: '::/0', peer: 'b' },
        ],
        remove: [{ destination: '10.9.0.0/16', peer: 'gone' }],
      },
      peers,
    );
    expect(v.add).to.have.length(2);
    expect(v.remove).to.have.length(1);
  });
  it('rejects a bad CIDR, host bits, an unknown peer and a duplicate destination', async () => {
    expect((await caught(() => validateRouteChange({ add: [{ destination: '10.1.0.0', peer: 'b' }], remove: [] }, peers))).field).to.equal(
      'add[0].destination',
    );
    expect(
      (await caught(() => validateRouteChange({ add: [], remove: [{ destination: '10.1.0.1/16', peer: 'b' }] }, peers))).field,
    ).to.equal('remove[0].destination');
    const unknown = await caught(() => validateRouteChange({ add: [{ destination: '10.1.0.0/16', peer: 'x' }], remove: [] }, peers));
    expect([unknown.code, unknown.field]).to.deep.equal(['UNKNOWN_PEER', 'add[0].peer']);
    const dup = await caught(() =>
      validateRouteChange(
        {
          add: [
            { destination: '10.1.0.0/16', peer: 'b' },
            { destination: '10.1.0.0/16', peer: 'b' },
          ],
          remove: [],
        },
        peers,
      ),
    );
    expect([dup.code, dup.field]).to.deep.equal(['INVALID_INPUT', 'add[1].destination']);
  });
});
