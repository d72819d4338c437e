import { expect } from 'chai';
import fc from 'fast-check';
import { RustynetError, type BackendStartConfig, type PeerBatch, type PeerConfig } from '@rustynet/plugin-api';
import {
  checkPeerConflicts,
  validateEndpoint,
  validatePeerBatch,
  validateRouteChange,
  validateStartConfig,
  type PeerBatchRules,
} from '../src/index.js';

const KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const rules: PeerBatchRules = { ipv6: true, maxPeers: 3, isPeerKey: (k) => KEY.test(k) };
const key = (n: number): string => Buffer.alloc(32, n).toString('base64');
const peer = (id: string, n: number, extra: Partial<PeerConfig> = {}): PeerConfig => ({
  id,
  publicKey: key(n),
  allowedIps: [`100.64.0.${n}/32`],
  ...extra,
});
const start = (over: Partial<BackendStartConfig> = {}): BackendStartConfig => ({
  nodeId: 'a',
  interfaceName: 'rn0',
  listenPort: 0,
  addresses: ['100.64.0.1/10'],
  keyDirectory: '/k',
  ...over,
});

/** Runs `fn` and returns the RustynetError it threw (fails when it threw nothing or something else). */
function thrown(fn: () => unknown): RustynetError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(RustynetError);
    return err as RustynetError;
  }
  expect.fail('did not throw');
}

describe('plugin-kit backend input checks', () => {
  it('a good start config passes; each bad field is named', () => {
    validateStartConfig(start(), { ipv6: true });
    const cases: [Partial<BackendStartConfig>, string, string][] = [
      [{ nodeId: 'A B' }, 'nodeId', 'INVALID_INPUT'],
      [{ interfaceName: 'x'.repeat(16) }, 'interfaceName', 'INVALID_INPUT'],
      [{ listenPort: 70000 }, 'listenPort', 'INVALID_INPUT'],
      [{ mtu: 1279 }, 'mtu', 'INVALID_INPUT'],
      [{ addresses: [] }, 'addresses', 'INVALID_INPUT'],
      [{ addresses: ['100.64.0.4/33'] }, 'addresses[0]', 'INVALID_INPUT'],
      [{ addresses: ['100.64.0.1/10', 'fd00::1/64'] }, 'addresses[1]', 'UNSUPPORTED'],
      [{ keyDirectory: 'relative' }, 'keyDirectory', 'INVALID_INPUT'],
    ];
    for (const [over, field, code] of cases) {
      const e = thrown(() => validateStartConfig(start(over), { ipv6: false }));
      expect([e.code, e.field], JSON.stringify(over)).to.deep.equal([code, field]);
    }
  });

  it('endpoints: IP literals and ports 1..65535 only', () => {
    expect(validateEndpoint({ host: '192.0.2.1', port: 51820, extra: 1 }, 'e')).to.deep.equal({ host: '192.0.2.1', port: 51820 });
    expect(thrown(() => validateEndpoint({ host: 'example.com', port: 1 }, 'e')).field).to.equal('e.host');
    expect(thrown(() => validateEndpoint({ host: '::1', port: 0 }, 'e')).field).to.equal('e.port');
    expect(thrown(() => validateEndpoint(null, 'e')).field).to.equal('e');
  });

  it('a peer batch names the first bad field, and the codes of the contract', () => {
    const known = new Set(['b']);
    validatePeerBatch({ upsert: [peer('c', 3)], remove: ['b'] }, known, rules);
    const cases: [PeerBatch, string, string][] = [
      [{ upsert: [peer('c', 3, { publicKey: 'nope' })], remove: [] }, 'upsert[0].publicKey', 'INVALID_INPUT'],
      [{ upsert: [peer('c', 3), peer('c', 4)], remove: [] }, 'upsert[1].id', 'DUPLICATE_PEER'],
      [{ upsert: [peer('c', 3, { allowedIps: ['100.64.0.1/24'] })], remove: [] }, 'upsert[0].allowedIps[0]', 'INVALID_INPUT'],
      [{ upsert: [peer('c', 3, { endpoint: { host: '1.2.3.4', port: 0 } })], remove: [] }, 'upsert[0].endpoint.port', 'INVALID_INPUT'],
      [{ upsert: [peer('c', 3, { persistentKeepalive: -1 })], remove: [] }, 'upsert[0].persistentKeepalive', 'INVALID_INPUT'],
      [{ upsert: [], remove: ['zz'] }, 'remove[0]', 'UNKNOWN_PEER'],
      [{ upsert: [peer('b', 2)], remove: ['b'] }, 'remove[0]', 'DUPLICATE_PEER'],
      [{ upsert: [peer('c', 3), peer('d', 4), peer('e', 5)], remove: [] }, 'upsert', 'UNSUPPORTED'],
    ];
    for (const [batch, field, code] of cases) {
      const e = thrown(() => validatePeerBatch(batch, known, rules));
      expect([e.code, e.field], field).to.deep.equal([code, field]);
    }
    const v6 = thrown(() =>
      validatePeerBatch({ upsert: [peer('c', 3, { allowedIps: ['fd00::/64'] })], remove: [] }, known, { ...rules, ipv6: false }),
    );
    expect([v6.code, v6.field]).to.deep.equal(['UNSUPPORTED', 'upsert[0].allowedIps[0]']);
    const hint = thrown(() =>
      validatePeerBatch({ upsert: [peer('c', 3, { publicKey: 'x' })], remove: [] }, known, { ...rules, keyHint: 'not an RSA key' }),
    );
    expect(hint.message).to.include('not an RSA key');
  });

  it('never throws anything but a RustynetError, whatever the batch (property)', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (upsert, remove) => {
        try {
          validatePeerBatch({ upsert, remove } as unknown as PeerBatch, new Set(['b']), rules);
        } catch (err) {
          return err instanceof RustynetError && typeof err.field === 'string';
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('conflicts: a shared key or an overlapping allowed IP names the later peer', () => {
    const next = new Map([
      ['b', peer('b', 2)],
      ['c', peer('c', 3)],
    ]);
    checkPeerConflicts([peer('c', 3)], next);
    const sameKey = peer('d', 2, { allowedIps: ['100.64.0.9/32'] });
    expect(thrown(() => checkPeerConflicts([sameKey], new Map([...next, ['d', sameKey]]))).field).to.equal('upsert[0].publicKey');
    const overlap = peer('d', 4, { allowedIps: ['100.64.0.0/24'] });
    expect(thrown(() => checkPeerConflicts([overlap], new Map([...next, ['d', overlap]]))).field).to.equal('upsert[0].allowedIps[0]');
  });

  it('route changes: known peers only for additions; default routes need exitNode', () => {
    const known = new Set(['b']);
    validateRouteChange(
      { add: [{ destination: '10.0.0.0/8', peer: 'b' }], remove: [{ destination: '10.1.0.0/16', peer: 'gone' }] },
      known,
      {
        exitNode: false,
        ipv6: true,
      },
    );
    const e1 = thrown(() =>
      validateRouteChange({ add: [{ destination: '10.0.0.0/8', peer: 'x' }], remove: [] }, known, { exitNode: true, ipv6: true }),
    );
    expect([e1.code, e1.field]).to.deep.equal(['UNKNOWN_PEER', 'add[0].peer']);
    const e2 = thrown(() =>
      validateRouteChange({ add: [{ destination: '0.0.0.0/0', peer: 'b' }], remove: [] }, known, { exitNode: false, ipv6: true }),
    );
    expect([e2.code, e2.field]).to.deep.equal(['UNSUPPORTED', 'add[0]']);
    const e3 = thrown(() =>
      validateRouteChange({ add: [{ destination: '10.0.0.1/8', peer: 'b' }], remove: [] }, known, { exitNode: true, ipv6: true }),
    );
    expect([e3.code, e3.field]).to.deep.equal(['INVALID_INPUT', 'add[0].destination']);
  });
});
