// Behaviour of the per-netmap hot paths that were rewritten for speed (docs/performance.md):
// they must give the same answers as the straightforward versions they replace.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import type { PeerConfig } from '@rustynet/plugin-api';
import { cidrKey, hostBitsZero, isHostPrefix, parseCidr } from '../src/util/ip.js';
import { canonicalJson, canonicalJsonBytes, jsonDigest, stringifyIsCanonical } from '../src/util/json.js';
import { jsonEqual, peerConfigEqual, peerFingerprint } from '../src/reconciler/diff.js';
import { createPeerKeyValidator } from '../src/reconciler/desired-state.js';
import { FileStateStore } from '../src/services/state-store.js';
import { NetmapTrust, LAST_GOOD_KEY } from '../src/trust/netmap-trust.js';
import { generateEd25519KeyPair } from '../src/services/key-store.js';
import { signNetmap } from '../src/trust/sign.js';
import { verifySignedNetmapBytes } from '../src/trust/verify.js';
import { makeNetmap, tmpDir } from './helpers.js';

/** Reference: the address bits of a CIDR as a BigInt (RFC 4291 text forms via URL parsing-free math). */
function refBits(text: string): { family: 4 | 6; value: bigint; len: number } {
  const [addr, len] = text.split('/') as [string, string];
  if (!addr.includes(':'))
    return { family: 4, value: addr.split('.').reduce((a, p) => (a << 8n) | BigInt(Number(p)), 0n), len: Number(len) };
  let t = addr;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(t);
  if (v4)
    t = `${t.slice(0, -v4[0].length)}${((Number(v4[1]) << 8) | Number(v4[2])).toString(16)}:${((Number(v4[3]) << 8) | Number(v4[4])).toString(16)}`;
  const [h, tl] = t.includes('::') ? t.split('::') : [t, undefined];
  const head = h ? h.split(':') : [];
  const tail = tl ? tl.split(':') : [];
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return { family: 6, value: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n), len: Number(len) };
}

describe('hot paths: CIDR parsing without BigInt (util/ip)', () => {
  it('parses IPv4 and IPv6 text forms; equivalent forms share a key', () => {
    expect(parseCidr('100.64.0.1/32')).to.include({ family: 4, prefixLength: 32, bits: 32 });
    expect(parseCidr('100.64.0.1/32')!.words).to.deep.equal([0x64400001]);
    expect(parseCidr('fd7a:115c:a1e1::3e8/128')!.words).to.deep.equal([0xfd7a115c, 0xa1e10000, 0, 0x3e8]);
    expect(parseCidr('::ffff:1.2.3.4/128')!.words).to.deep.equal([0, 0, 0xffff, 0x01020304]);
    expect(parseCidr('::1.2.3.4/128')!.words).to.deep.equal([0, 0, 0, 0x01020304]);
    expect(parseCidr('1:2:3:4:5:6:1.2.3.4/128')!.words).to.deep.equal([0x10002, 0x30004, 0x50006, 0x01020304]);
    expect(parseCidr('::/0')!.words).to.deep.equal([0, 0, 0, 0]);
    expect(cidrKey(parseCidr('fd00::1/128')!)).to.equal(cidrKey(parseCidr('fd00:0:0::0:1/128')!));
    expect(cidrKey(parseCidr('fd00::1/128')!)).to.not.equal(cidrKey(parseCidr('fd00::1/127')!));
    for (const bad of ['100.64.0.1', '100.64.0.1/33', 'fd00::1/129', '1.2.3/8', 'fe80::1%eth0/128', 'x/8', '1.2.3.4/-1', '1.2.3.4/1a']) {
      expect(parseCidr(bad), bad).to.equal(undefined);
    }
  });

  it('host bits and host prefixes at every word boundary', () => {
    const cases: Array<[string, boolean]> = [
      ['0.0.0.0/0', true],
      ['1.0.0.0/0', false],
      ['10.0.0.0/8', true],
      ['10.0.0.1/8', false],
      ['10.0.0.1/32', true],
      ['10.0.0.2/31', true],
      ['10.0.0.3/31', false],
      ['::/0', true],
      ['::1/0', false],
      ['fd00::/8', true],
      ['fd00::1/64', false],
      ['fd00:0:0:1::/64', true],
      ['fd00:0:0:0:8000::/64', false],
      ['fd00::1/128', true],
      ['fd00::2/127', true],
      ['fd00::3/127', false],
      ['fd00:0:1::/32', false],
      ['fd00:0:1::/48', true],
      ['fd00::1:0:0:0/79', false],
      ['fd00::1:0:0:0/80', true],
    ];
    for (const [text, zero] of cases) expect(hostBitsZero(parseCidr(text)!), text).to.equal(zero);
    expect(isHostPrefix(parseCidr('10.0.0.1/32')!)).to.equal(true);
    expect(isHostPrefix(parseCidr('fd00::1/128')!)).to.equal(true);
    expect(isHostPrefix(parseCidr('10.0.0.0/31')!)).to.equal(false);
  });

  it('agrees with a BigInt reference on random prefixes (host bits, keys)', () => {
    const v4 = fc
      .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
      .map(([o, l]) => `${o.join('.')}/${l}`);
    const v6 = fc
      .tuple(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), fc.integer({ min: 0, max: 128 }), fc.boolean())
      .map(([g, l, compress]) => {
        const text = g.map((x) => x.toString(16)).join(':');
        return `${compress ? text.replace(/(^|:)0(:0)+(:|$)/, '::') : text}/${l}`;
      });
    fc.assert(
      fc.property(fc.oneof(v4, v6), fc.oneof(v4, v6), (a, b) => {
        const pa = parseCidr(a);
        expect(pa, a).to.not.equal(undefined);
        const ra = refBits(a);
        const bits = BigInt(ra.family === 4 ? 32 : 128);
        const mask = (1n << (bits - BigInt(ra.len))) - 1n;
        expect(hostBitsZero(pa!), a).to.equal((ra.value & mask) === 0n);
        const rb = refBits(b);
        const same = ra.family === rb.family && ra.value === rb.value && ra.len === rb.len;
        expect(cidrKey(pa!) === cidrKey(parseCidr(b)!), `${a} vs ${b}`).to.equal(same);
      }),
      { numRuns: 500 },
    );
  });
});

describe('hot paths: diff without canonical JSON', () => {
  const base: PeerConfig = {
    id: 'b',
    publicKey: 'k',
    allowedIps: ['100.64.0.2/32', 'fd00::2/128'],
    endpoint: { host: '198.18.0.2', port: 51820 },
  };

  it('peerConfigEqual: allowed IPs as a set, absent keepalive = 0, endpoint compared by value', () => {
    expect(peerConfigEqual(base, { ...base, allowedIps: ['fd00::2/128', '100.64.0.2/32'] })).to.equal(true);
    expect(peerConfigEqual(base, { ...base, persistentKeepalive: 0 })).to.equal(true);
    expect(peerConfigEqual(base, { ...base, endpoint: { port: 51820, host: '198.18.0.2' } })).to.equal(true);
    expect(peerConfigEqual(base, { ...base, persistentKeepalive: 25 })).to.equal(false);
    expect(peerConfigEqual(base, { ...base, endpoint: { host: '198.18.0.2', port: 51821 } })).to.equal(false);
    const { endpoint: _e, ...noEndpoint } = base;
    expect(peerConfigEqual(base, noEndpoint)).to.equal(false);
    expect(peerConfigEqual(noEndpoint, { ...noEndpoint })).to.equal(true);
    expect(peerConfigEqual(base, { ...base, allowedIps: ['100.64.0.2/32'] })).to.equal(false);
    expect(peerConfigEqual(base, { ...base, allowedIps: ['100.64.0.2/32', '100.64.0.2/32'] })).to.equal(false);
    expect(peerConfigEqual(base, { ...base, publicKey: 'other' })).to.equal(false);
    expect(peerConfigEqual(base, { ...base, id: 'c' })).to.equal(false);
  });

  it('peerConfigEqual agrees with the canonical fingerprint on random configs', () => {
    const ip = fc.constantFrom('100.64.0.1/32', '100.64.0.2/32', 'fd00::1/128', '10.0.0.0/8', '::/0');
    const cfg = fc.record(
      {
        id: fc.constantFrom('a', 'b'),
        publicKey: fc.constantFrom('k1', 'k2'),
        allowedIps: fc.uniqueArray(ip, { minLength: 1, maxLength: 4 }),
        endpoint: fc.record({ host: fc.constantFrom('198.18.0.1', 'fd00::9'), port: fc.constantFrom(1, 2) }),
        persistentKeepalive: fc.constantFrom(0, 25),
      },
      { requiredKeys: ['id', 'publicKey', 'allowedIps'] },
    );
    fc.assert(
      fc.property(cfg, cfg, (a, b) => {
        expect(peerConfigEqual(a, b)).to.equal(peerFingerprint(a) === peerFingerprint(b));
      }),
      { numRuns: 1000 },
    );
  });

  it('jsonEqual agrees with RFC 8785 canonical JSON equality', () => {
    expect(jsonEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).to.equal(true);
    expect(jsonEqual({ a: 1, b: undefined }, { a: 1 })).to.equal(true);
    expect(jsonEqual([1, undefined], [1, null])).to.equal(true);
    expect(jsonEqual({ a: 1 }, { a: 1, b: 2 })).to.equal(false);
    expect(jsonEqual([1, 2], [2, 1])).to.equal(false);
    expect(jsonEqual({}, [])).to.equal(false);
    expect(jsonEqual(undefined, null)).to.equal(false);
    expect(jsonEqual(undefined, undefined)).to.equal(true);
    const value = fc.jsonValue({ maxDepth: 3 });
    fc.assert(
      fc.property(value, value, (a, b) => {
        expect(jsonEqual(a, b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).to.equal(canonicalJson(a) === canonicalJson(b));
        expect(jsonEqual(a, JSON.parse(JSON.stringify(a)))).to.equal(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('hot paths: one canonicalisation per netmap, persistence', () => {
  it('the digest comes from the verified canonical bytes and equals the digest of the netmap', async () => {
    const cp = generateEd25519KeyPair();
    const signed = signNetmap(makeNetmap(5, 3), cp.privateKeyPem);
    const v = verifySignedNetmapBytes(signed, cp.publicKeyB64);
    expect(v.canonical.toString('utf8')).to.equal(canonicalJson(signed.netmap));
    const trust = new NetmapTrust(cp.publicKeyB64, new FileStateStore(tmpDir()));
    const t = await trust.check(signed);
    expect(t.digest).to.equal(jsonDigest(signed.netmap)); // same watermark digests as before
  });

  it('persists the last good netmap as received (text), and it re-verifies after a restart', async () => {
    const dir = tmpDir();
    const cp = generateEd25519KeyPair();
    const signed = signNetmap(makeNetmap(4, 9), cp.privateKeyPem);
    const text = `  ${JSON.stringify(signed, null, 1)}\n`;
    const trust = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    const t = await trust.check(JSON.parse(text), text);
    await trust.commit(t);
    expect(await readFile(join(dir, `${LAST_GOOD_KEY}.json`), 'utf8')).to.equal(text);
    const again = new NetmapTrust(cp.publicKeyB64, new FileStateStore(dir));
    const last = await again.lastGood();
    expect(last?.netmap.version).to.equal(9);
    expect(last?.digest).to.equal(t.digest);
    // Without the text, the parsed envelope is written (JSON).
    const other = tmpDir();
    const t2 = new NetmapTrust(cp.publicKeyB64, new FileStateStore(other));
    await t2.commit(await t2.check(signed));
    expect(JSON.parse(await readFile(join(other, `${LAST_GOOD_KEY}.json`), 'utf8'))).to.deep.equal(signed);
  });
});

describe('hot paths: peer key validation cache', () => {
  it('remembers accepted keys only; rejected keys stay rejected', () => {
    const validate = createPeerKeyValidator({ type: 'string', pattern: '^[a-z]{4}$' });
    expect(validate('abcd')).to.equal(undefined);
    expect(validate('abcd')).to.equal(undefined);
    expect(validate('ABCD')).to.be.a('string');
    expect(validate('ABCD')).to.be.a('string');
    expect(validate(5)).to.be.a('string');
    expect(validate({ k: 'abcd' })).to.be.a('string');
  });
});

describe('hot paths: canonical JSON bytes', () => {
  it('are byte for byte the canonicalize output (random JSON, and a netmap)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        expect(canonicalJsonBytes(v).toString('utf8')).to.equal(canonicalJson(v));
      }),
      { numRuns: 1000 },
    );
    const nm = makeNetmap(20, 4) as unknown as Record<string, unknown>;
    const withUndefined = { ...nm, extra: undefined, list: [1, undefined, 'é\u2028"\\'], ü: { b: 1, a: [2] } };
    expect(canonicalJsonBytes(withUndefined).toString('utf8')).to.equal(canonicalJson(withUndefined));
    expect(canonicalJsonBytes(nm)).to.deep.equal(Buffer.from(canonicalJson(nm), 'utf8'));
  });
});

describe('hot paths: canonical JSON by the native serialiser when keys are in order', () => {
  it('JSON.stringify equals canonicalize whenever stringifyIsCanonical says so (random JSON, sorted and not)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        const sorted: unknown = JSON.parse(canonicalJson(v));
        // true unless an object has integer-like keys (Object.keys lists those first, numerically)
        if (stringifyIsCanonical(sorted)) expect(JSON.stringify(sorted)).to.equal(canonicalJson(v));
        expect(canonicalJsonBytes(sorted).toString('utf8')).to.equal(canonicalJson(v));
        if (stringifyIsCanonical(v)) expect(JSON.stringify(v)).to.equal(canonicalJson(v));
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses the cases where the two differ, and canonicalJsonBytes still matches canonicalize', () => {
    const cases: unknown[] = [
      { b: 1, a: 2 },
      { 9: 'x', 10: 'y' }, // Object.keys: numeric order; RFC 8785: "10" < "9"
      { a: { d: 1, c: 2 } },
      { a: undefined },
      [1, undefined],
      { a: new Date(0) },
      { toJSON: () => 1 },
    ];
    for (const c of cases) {
      expect(stringifyIsCanonical(c), JSON.stringify(c)).to.equal(false);
      expect(canonicalJsonBytes([[c]]).toString('utf8')).to.equal(canonicalJson([[c]]));
    }
    const nm: unknown = JSON.parse(canonicalJson(makeNetmap(20, 4)));
    expect(stringifyIsCanonical(nm)).to.equal(true);
    expect(stringifyIsCanonical([NaN])).to.equal(false);
    expect(stringifyIsCanonical({ x: Infinity })).to.equal(false);
    expect(() => canonicalJsonBytes([[NaN]])).to.throw();
    expect(() => canonicalJsonBytes([[{ x: -Infinity }]])).to.throw();
    expect(stringifyIsCanonical({ a: -0, b: 'é\u2028"\\', c: [true, null, 1e21] })).to.equal(true);
    expect(canonicalJsonBytes([[{ a: -0, b: 1e21 }]]).toString('utf8')).to.equal(canonicalJson([[{ a: -0, b: 1e21 }]]));
  });
});
